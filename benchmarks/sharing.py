"""Delta Sharing: ``load_as_pandas`` of a released CSV view vs the same view over /v1.

One live server (embedded SQLite and blob store). Acme deposits a CSV of ``--mib`` MiB and
releases a view (three of four columns, two of three regions) to Globex. Measured in the
same run: the /v1 download of the view (streamed, bytes counted: the baseline), then
``delta_sharing.load_as_pandas`` through the protocol, cold (the view's Parquet file is
materialized on the first query) and warm (materialized already). Ratio = baseline time /
protocol time (>= 0.5 is the target).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import delta_sharing
from live_server import account_token, live_server, release_view

MiB = 1 << 20
SCHEMA = {
    "fields": [
        {"name": "region", "type": "string"},
        {"name": "amount", "type": "integer"},
        {"name": "customer", "type": "string"},
        {"name": "note", "type": "string"},
    ]
}
VIEW = {
    "fields": ["region", "amount", "customer"],
    "where": {"any": [{"field": "region", "op": "in", "value": ["EU", "US"]}]},
}
REGIONS = ("EU", "US", "APAC")


def csv_payload(mib: int) -> Iterator[bytes]:
    yield b"region,amount,customer,note\n"
    target, sent, row = mib * MiB, 0, 0
    while sent < target:
        lines = [
            f"{REGIONS[i % 3]},{i * 7 % 100003},customer-{i:09d},note {i % 977}\n"
            for i in range(row, row + 20000)
        ]
        row += 20000
        block = "".join(lines).encode()
        sent += len(block)
        yield block


def run(mib: int) -> None:
    with live_server() as server, server.client(server.operator_token) as operator:
        for slug in ("acme", "globex"):
            operator.post("/v1/orgs", json={"slug": slug, "name": slug, "tier": "core"})
        operator.post("/v1/partnerships", json={"orgs": ["acme", "globex"], "kind": "supplier"})
        steward = server.client(account_token(server, operator, "acme", "steward"))
        admin = server.client(account_token(server, operator, "globex", "admin"))
        body = {"name": "sales", "media_type": "text/csv", "schema": SCHEMA}
        dataset = steward.post("/v1/datasets", json=body).json()["id"]
        steward.post(
            f"/v1/datasets/{dataset}/versions",
            content=csv_payload(mib),
            headers={"Content-Type": "text/csv"},
        ).raise_for_status()
        release_view(steward, dataset, "globex", VIEW)

        started = time.perf_counter()
        received = 0
        with admin.stream("GET", f"/v1/datasets/{dataset}/versions/1/content") as response:
            response.raise_for_status()
            for chunk in response.iter_bytes(MiB):
                received += len(chunk)
        v1_s = time.perf_counter() - started

        profile = admin.post(
            "/v1/orgs/globex/sharing-profiles", json={"name": "bench", "expires_in": 3600}
        ).json()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "profile.share"
            path.write_text(json.dumps(profile))
            url = f"{path}#acme.default.sales"
            started = time.perf_counter()
            frame = delta_sharing.load_as_pandas(url)
            cold_s = time.perf_counter() - started
            started = time.perf_counter()
            again = delta_sharing.load_as_pandas(url)
            warm_s = time.perf_counter() - started
        assert len(frame) == len(again) and list(frame.columns) == VIEW["fields"]
        print(f"CSV deposit {mib} MiB; view {received / MiB:.1f} MiB, {len(frame)} rows")
        print(f"/v1 view download        {v1_s:7.2f} s  (baseline)")
        print(f"load_as_pandas, cold     {cold_s:7.2f} s  ratio {v1_s / cold_s:.2f}x")
        print(f"load_as_pandas, warm     {warm_s:7.2f} s  ratio {v1_s / warm_s:.2f}x")
        print(f"server peak RSS {server.peak_rss_mib():.0f} MiB")
        steward.close()
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=256, help="CSV size in MiB")
    run(parser.parse_args().mib)


if __name__ == "__main__":
    main()
