"""Overlap counts and records on two 1,000,000-row account lists, against a plain Arrow join.

    .venv/bin/python benchmarks/overlaps.py [--rows 1000000] [--overlap 0.10]

Two CRM exports are generated (realistic company domains, about ``--overlap`` of one list's
domains in the other, messy spellings: schemes, ``www.``, upper case, ports, paths, trailing
dots, e-mail addresses, a few IDNs, blanks), deposited through HTTP into a real `escrow serve`
(SQLite and local blobs in a temp dir), and given two populations each (customers and
prospects). Then, timed from the client:

- counts, cold: ``GET /v1/overlaps`` right after the deposits: decrypt both versions, read
  them with Arrow, normalize the match fields and index four populations, count 2 x 2 cells;
- counts, warm: the same request again (results cached in the server's memory);
- first records page: ``GET /v1/overlaps/records`` (50 rows) once counts are computed.

The floor, in this process: a plain ``pyarrow`` join (``Table.join``, inner, on distinct
keys) of the same normalized keys for the same four cells. The server's peak RSS is read
from /proc (VmHWM). Targets: cold counts <= 5 s, records page < 1 s, server < 500 MB.
"""

from __future__ import annotations

import argparse
import io
import random
import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from live_server import live_server, partner_steward

from tabular.normalize import normalize

WORDS = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "stark",
    "wayne",
    "wonka",
    "hooli",
    "vandelay",
    "soylent",
    "cyberdyne",
    "tyrell",
    "aperture",
    "black",
    "mesa",
    "oscorp",
    "massive",
    "dynamic",
    "pied",
    "piper",
    "gringotts",
    "monarch",
    "nakatomi",
    "virtucon",
    "blue",
    "sun",
    "rekall",
    "weyland",
    "yutani",
    "duff",
    "krusty",
    "octan",
    "planet",
    "express",
]
TLDS = ["com", "com", "com", "io", "net", "org", "co.uk", "de", "fr", "ai"]
SCHEMA = {
    "fields": [
        {"name": "domain", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "stage", "type": "string"},
        {"name": "owner", "type": "string"},
    ]
}


def domain(rng: random.Random, index: int) -> str:
    word = rng.choice(WORDS)
    if index % 997 == 0:
        word = "bücher" + word  # an IDN now and then
    return f"{word}{index}.{rng.choice(TLDS)}"


def messy(rng: random.Random, clean: str) -> str:
    roll = rng.random()
    if roll < 0.5:
        return clean
    if roll < 0.6:
        return f"https://www.{clean}/about?ref=crm"
    if roll < 0.7:
        return clean.upper()
    if roll < 0.75:
        return f"{clean}."
    if roll < 0.8:
        return f"http://{clean}:443/"
    if roll < 0.9:
        return f"sales@{clean}"
    if roll < 0.98:
        return f"  www.{clean}  "
    return ""


def crm_csv(rng: random.Random, domains: list[str]) -> bytes:
    out = io.StringIO()
    out.write("domain,name,stage,owner\n")
    stages = ["customer", "prospect", "churned"]
    for index, clean in enumerate(domains):
        stage = stages[index % 3]
        out.write(f"{messy(rng, clean)},Company {index},{stage},rep{index % 40}@example.test\n")
    return out.getvalue().encode()


def lists(rows: int, overlap: float) -> tuple[bytes, bytes]:
    rng = random.Random(16)
    shared = int(rows * overlap)
    mine = [domain(rng, i) for i in range(rows)]
    theirs = rng.sample(mine, shared) + [domain(rng, rows + i) for i in range(rows - shared)]
    rng.shuffle(theirs)
    return crm_csv(rng, mine), crm_csv(rng, theirs)


def floor_seconds(first: bytes, second: bytes) -> tuple[float, dict[str, int]]:
    """A plain pyarrow join of the same normalized keys (reading and normalizing excluded)."""
    sides = []
    for body in (first, second):
        table = pa_csv.read_csv(
            pa.BufferReader(body),
            convert_options=pa_csv.ConvertOptions(
                column_types={"domain": pa.string()}, strings_can_be_null=False
            ),
        )
        keys = normalize(table["domain"], "domain")
        sides.append(
            {s: pc.filter(keys, pc.equal(table["stage"], s)) for s in ("customer", "prospect")}
        )
    start = time.perf_counter()
    counts = {}
    for mine_stage, mine_keys in sides[0].items():
        for their_stage, their_keys in sides[1].items():
            left = pa.table({"k": pc.unique(pc.drop_null(mine_keys))})
            right = pa.table({"k": pc.unique(pc.drop_null(their_keys))})
            counts[f"{mine_stage}/{their_stage}"] = left.join(
                right, "k", join_type="inner"
            ).num_rows
    return time.perf_counter() - start, counts


def setup(server: Any, first: bytes, second: bytes) -> dict[str, Any]:
    stewards = {slug: partner_steward(server, slug) for slug in ("acme", "globex")}
    with server.client(server.operator_token) as op:
        op.post(
            "/v1/partnerships", json={"orgs": ["acme", "globex"], "kind": "technology"}
        ).raise_for_status()
    populations: dict[str, dict[str, str]] = {}
    for slug, body in (("acme", first), ("globex", second)):
        client = stewards[slug]
        dataset = client.post(
            "/v1/datasets", json={"name": "accounts", "media_type": "text/csv", "schema": SCHEMA}
        ).json()
        client.post(
            f"/v1/datasets/{dataset['id']}/versions",
            content=body,
            headers={"Content-Type": "text/csv"},
        ).raise_for_status()
        populations[slug] = {}
        for stage in ("customer", "prospect"):
            created = client.post(
                f"/v1/datasets/{dataset['id']}/populations",
                json={
                    "name": f"{stage}s",
                    "match": {"field": "domain", "normalize": "domain"},
                    "where": {"field": "stage", "op": "eq", "value": stage},
                    "sharing": {"level": "overlaps", "fields": ["name", "stage"]},
                },
            )
            created.raise_for_status()
            populations[slug][stage] = created.json()["id"]
    return {"clients": stewards, "populations": populations}


def current_rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib(pid: int) -> float:
    return current_rss_mib(pid, "VmHWM")


def timed(client: httpx.Client, url: str, **params: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    response = client.get(url, params=params)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed, response.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--overlap", type=float, default=0.10)
    args = parser.parse_args()
    first, second = lists(args.rows, args.overlap)
    sizes = f"{len(first) / 2**20:.1f} + {len(second) / 2**20:.1f} MiB CSV"
    print(f"lists: {args.rows:,} rows each, {sizes}")
    floor, floor_counts = floor_seconds(first, second)
    with live_server() as server:
        idle = current_rss_mib(server.process.pid)
        state = setup(server, first, second)
        acme = state["clients"]["acme"]
        before = current_rss_mib(server.process.pid)
        cold, body = timed(acme, "/v1/overlaps", partner="globex")
        counts_peak = peak_rss_mib(server.process.pid)
        warm, _ = timed(acme, "/v1/overlaps", partner="globex")
        mine, theirs = (
            state["populations"]["acme"]["customer"],
            state["populations"]["globex"]["customer"],
        )
        page, records = timed(
            acme, "/v1/overlaps/records", partner="globex", mine=mine, theirs=theirs
        )
        rss = server.peak_rss_mib()
        for client in state["clients"].values():
            client.close()
    got = {
        f"{c['mine']['name'][:-1]}/{c['theirs']['name'][:-1]}": c["count"] for c in body["cells"]
    }
    assert got == floor_counts, (got, floor_counts)
    print(f"counts 2x2 (cold: decrypt, read, normalize, index): {cold:.2f} s  (target <= 5 s)")
    print(f"counts 2x2 (warm, cached):                          {warm:.3f} s")
    rows = len(records["items"])
    print(f"first records page ({rows} rows):{' ' * 20}{page:.3f} s  (target < 1 s)")
    ratio = cold / floor
    floor_line = f"{floor:.3f} s (cold/floor {ratio:.1f}x)"
    print(f"floor: plain pyarrow join of the normalized keys:   {floor_line}")
    print(f"server RSS idle, before the deposits:              {idle:.0f} MiB")
    print(f"server RSS before the first overlap read:          {before:.0f} MiB")
    print(f"server peak RSS once counts are computed:          {counts_peak:.0f} MiB")
    print(f"server peak RSS:                                    {rss:.0f} MiB  (target < 500 MB)")
    print(f"cells: {got}")


if __name__ == "__main__":
    main()
