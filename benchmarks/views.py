"""Disclosure-view throughput against plain streaming decryption of the same bytes.

    .venv/bin/python benchmarks/views.py [--mib 1024] [--parquet-mib N]

Same run, same machine, same ciphertext: a CSV of ``--mib`` MiB (quoted fields, some with
embedded commas, quotes and newlines) and a Parquet file of ``--parquet-mib`` MiB (default:
the same) are generated in a temp dir and encrypted with ``crypto.StreamingAead`` (1 MiB
segments). Then, each in a fresh process so that its peak RSS (``getrusage``) is its own:

- decrypt: plain streaming decryption, 1 MiB reads (the baseline);
- CSV view: the same decryption feeding ``tabular.apply_view`` (4 of 6 columns granted,
  rows kept by ``region in [EU, US] and amount >= 100``, about a third);
- JSON Lines view: the same rows as JSON Lines, same view;
- Parquet view: ``tabular.apply_view`` over a ``RangeReader`` that decrypts the segments each
  read covers (Parquet needs random access), same view.

Throughput is plaintext MiB in per second; the ratio is against the decrypt baseline of the
same file. Every process sets Arrow's allocator as `escrow serve` does (``escrow.memory``);
"above idle" is a measure's peak RSS minus that of a process that loaded pyarrow and
``tabular`` and did nothing.

With ``--http`` the same three tables go through a real ``escrow serve`` instead (embedded
defaults): the owner deposits each into a dataset created without a schema (the schema is
inferred), releases the view above to a partner, and then, alternated ``--repeat`` times,
the owner's plain download of the version (the baseline) and the partner's view of it are
timed over HTTP. Ratio = plain download time / view time, per round. "above idle" is the
server's peak RSS during the view (its high-water mark reset just before, through
``/proc/PID/clear_refs``) minus its resident size just before.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crypto import DataKey, StreamingAead

MiB = 1 << 20
AAD = b"benchmark-version"
SCHEMA = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "region", "type": "string"},
        {"name": "amount", "type": "number"},
        {"name": "ts", "type": "timestamp"},
        {"name": "note", "type": "string"},
        {"name": "secret", "type": "string"},
    ]
}
VIEW = {
    "fields": ["id", "region", "amount", "note"],
    "where": {
        "all": [
            {"field": "region", "op": "in", "value": ["EU", "US"]},
            {"field": "amount", "op": "ge", "value": 100},
        ]
    },
}
REGIONS = ["EU", "US", "APAC", "LATAM", "MEA", "EU-West"]
WORDS = ["alpha", "beta, gamma", 'say "hi"', "delta", "line\nbreak", "epsilon", "zeta"]
AEAD = StreamingAead(DataKey.generate())  # made before any fork: every process shares it


def csv_block(rng: random.Random, start: int) -> tuple[bytes, int]:
    """About 1 MiB of whole CSV records, and how many."""
    rows = []
    size = count = 0
    while size < MiB:
        note = " ".join(rng.choices(WORDS, k=rng.randint(1, 5))).replace('"', '""')
        row = (
            f"{start + count},{rng.choice(REGIONS)},{rng.uniform(0, 300):.2f},"
            f'2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T12:00:00Z,"{note}",'
            f"s{rng.getrandbits(64):x}\r\n"
        )
        rows.append(row)
        size += len(row)
        count += 1
    return "".join(rows).encode(), count


def write_csv(path: Path, mib: int) -> int:
    rng = random.Random(7)
    block, per_block = csv_block(rng, 0)
    with path.open("wb") as out:
        out.write(b"id,region,amount,ts,note,secret\r\n")
        for _ in range(mib):
            out.write(block)  # the same records again: generation costs nothing
    return per_block * mib


def write_jsonl(path: Path, mib: int) -> int:
    import csv
    import io
    import json

    rng = random.Random(7)
    block, _ = csv_block(rng, 0)
    names = ["id", "region", "amount", "ts", "note", "secret"]
    rows = list(csv.reader(io.StringIO(block.decode())))
    lines = "".join(
        json.dumps(dict(zip(names, [int(r[0]), r[1], float(r[2]), *r[3:]], strict=True))) + "\n"
        for r in rows
    ).encode()
    written = 0
    with path.open("wb") as out:
        while written * len(lines) < mib * MiB:
            out.write(lines)
            written += 1
    return written * len(rows)


def write_parquet(path: Path, mib: int) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(7)
    rows = 1 << 18
    table = pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "region": [rng.choice(REGIONS) for _ in range(rows)],
            "amount": [rng.uniform(0, 300) for _ in range(rows)],
            "ts": pa.array([1_700_000_000_000_000 + i for i in range(rows)], pa.timestamp("us")),
            "note": [" ".join(rng.choices(WORDS, k=rng.randint(1, 5))) for _ in range(rows)],
            "secret": [f"s{rng.getrandbits(64):x}" for _ in range(rows)],
        }
    )
    written = 0
    with pq.ParquetWriter(path, table.schema) as writer:
        while path.stat().st_size < mib * MiB:
            writer.write_table(table)  # one row group each
            written += rows
    return written


def encrypt(plain: Path, sealed: Path) -> None:
    encryptor = AEAD.new_encryptor(AAD)
    with plain.open("rb") as source, sealed.open("wb") as out:
        while chunk := source.read(MiB):
            out.write(encryptor.update(chunk))
        out.write(encryptor.finalize())


def decrypt_only(sealed: Path) -> tuple[int, int]:
    decryptor = AEAD.new_decryptor(AAD)
    total = 0
    with sealed.open("rb") as source:
        while chunk := source.read(MiB):
            total += len(decryptor.update(chunk))
    total += len(decryptor.finalize())
    return total, total


def decrypted(sealed: Path, counted: list[int]) -> Any:
    decryptor = AEAD.new_decryptor(AAD)
    with sealed.open("rb") as source:
        while chunk := source.read(MiB):
            plaintext = decryptor.update(chunk)
            counted[0] += len(plaintext)
            yield plaintext
    tail = decryptor.finalize()
    counted[0] += len(tail)
    yield tail


def table_view(fmt: Any, sealed: Path) -> tuple[int, int]:
    from tabular import apply_view

    counted = [0]
    output = apply_view(fmt, VIEW, SCHEMA, chunks=decrypted(sealed, counted))
    sent = sum(map(len, output))
    assert 0 < output.rows_returned < output.rows_scanned
    return counted[0], sent


def csv_view(sealed: Path) -> tuple[int, int]:
    return table_view("csv", sealed)


def jsonl_view(sealed: Path) -> tuple[int, int]:
    return table_view("jsonl", sealed)


def parquet_view_run(sealed: Path) -> tuple[int, int]:
    from tabular import RangeReader, apply_view

    layout = AEAD.layout
    size = layout.plaintext_size(sealed.stat().st_size)
    with sealed.open("rb") as source:
        header = source.read(layout.header_size)

        def read_range(start: int, end: int) -> bytes:
            segments = layout.segment_range(start, end, size)
            source.seek(segments.ciphertext_offset)
            decryptor = AEAD.new_range_decryptor(AAD, header, segments)
            plaintext = decryptor.update(source.read(segments.ciphertext_length))
            return plaintext + decryptor.finalize()

        stream = apply_view("parquet", VIEW, SCHEMA, source=RangeReader(size, read_range))
        sent = sum(map(len, stream))
    assert 0 < stream.rows_returned < stream.rows_scanned
    return size, sent


def as_the_server() -> None:
    """Arrow's allocator and malloc's arenas as `escrow serve` sets them (escrow.memory)."""
    from escrow.memory import return_freed_memory

    return_freed_memory()


def idle() -> float:
    """Peak RSS (MiB) of a process that has loaded what a view loads, and done nothing."""
    import pyarrow.compute
    import pyarrow.parquet  # noqa: F401

    import tabular  # noqa: F401

    as_the_server()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(run: Callable[[Path], tuple[int, int]], path: Path) -> dict[str, Any]:
    as_the_server()
    # Timed in a warm process, as in a running server: a first run loads pyarrow, its compute
    # functions and the modules a view imports lazily (~0.5 s, not a view's cost).
    run(path)
    started = time.perf_counter()
    read, sent = run(path)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"mib_s": read / MiB / seconds, "sent_mib": sent / MiB, "rss_mib": peak}


def in_child(function: Callable[..., Any], *args: Any) -> Any:
    """Runs in a fresh forked process: its peak RSS is its own, not the generator's."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply(function, args)


def prepare(root: Path, mib: int, parquet_mib: int) -> dict[str, int]:
    rows = in_child(write_csv, root / "data.csv", mib)
    in_child(encrypt, root / "data.csv", root / "csv.sealed")
    (root / "data.csv").unlink()
    in_child(write_jsonl, root / "data.jsonl", mib)
    in_child(encrypt, root / "data.jsonl", root / "jsonl.sealed")
    (root / "data.jsonl").unlink()
    parquet_rows = in_child(write_parquet, root / "data.parquet", parquet_mib)
    in_child(encrypt, root / "data.parquet", root / "parquet.sealed")
    parquet_size = (root / "data.parquet").stat().st_size
    (root / "data.parquet").unlink()
    return {"csv_rows": rows, "parquet_rows": parquet_rows, "parquet_mib": parquet_size // MiB}


MEDIA_TYPES = {"csv": "text/csv", "jsonl": "application/x-ndjson"}
MEDIA_TYPES["parquet"] = "application/vnd.apache.parquet"


def _status_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


def _streamed(client: Any, url: str) -> tuple[float, int]:
    """Seconds to receive the whole body, and its size."""
    received = 0
    started = time.perf_counter()
    with client.stream("GET", url) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes(MiB):
            received += len(chunk)
    return time.perf_counter() - started, received


def _file_chunks(path: Path) -> Any:
    with path.open("rb") as source:
        while chunk := source.read(MiB):
            yield chunk


def over_http(root: Path, mib: int, parquet_mib: int, repeat: int) -> None:
    """Plain download vs view, through a real server (see the module docstring)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from live_server import account_token, live_server, release_view

    files = {
        "csv": (write_csv, root / "data.csv", mib),
        "jsonl": (write_jsonl, root / "data.jsonl", mib),
        "parquet": (write_parquet, root / "data.parquet", parquet_mib),
    }
    for write, path, size in files.values():
        in_child(write, path, size)
    with live_server() as server, server.client(server.operator_token) as operator:
        for slug in ("acme", "globex"):
            operator.post("/v1/orgs", json={"slug": slug, "name": slug, "tier": "core"})
        operator.post("/v1/partnerships", json={"orgs": ["acme", "globex"], "kind": "supplier"})
        steward = server.client(account_token(server, operator, "acme", "steward"))
        partner = server.client(account_token(server, operator, "globex", "admin"))
        urls = {}
        for fmt, (_, path, _) in files.items():
            media_type = MEDIA_TYPES[fmt]
            dataset = steward.post(
                "/v1/datasets", json={"name": f"bench-{fmt}", "media_type": media_type}
            ).json()["id"]
            steward.post(
                f"/v1/datasets/{dataset}/versions",
                content=_file_chunks(path),
                headers={"Content-Type": media_type},
            ).raise_for_status()
            release_view(steward, dataset, "globex", VIEW)
            urls[fmt] = f"/v1/datasets/{dataset}/versions/1/content"
            path.unlink()
        pid = server.process.pid
        rounds: dict[str, list[tuple[float, float, int, int, float]]] = {}
        for _ in range(repeat):
            for fmt, url in urls.items():
                _streamed(steward, url)  # warm: the first request loads what a view imports
                plain_s, size = _streamed(steward, url)
                resting = _status_mib(pid, "VmRSS")
                Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM
                view_s, sent = _streamed(partner, url)
                above = _status_mib(pid, "VmHWM") - resting
                rounds.setdefault(fmt, []).append((plain_s, view_s, size, sent, above))
        steward.close()
        partner.close()
    print(f"over HTTP, cpu {os.cpu_count()}; plain = the owner's download of the same version")
    print(
        f"{'':8} {'plain MiB/s':>11} {'view MiB/s in':>13} {'ratio (min-max)':>17}"
        f" {'MiB out':>8} {'above idle (max)':>16}"
    )
    for fmt, runs_of in rounds.items():
        ratios = sorted(plain / view for plain, view, *_ in runs_of)
        mib_in = runs_of[0][2] / MiB
        plain_speed = statistics.median(mib_in / r[0] for r in runs_of)
        view_speed = statistics.median(mib_in / r[1] for r in runs_of)
        print(
            f"{fmt:8} {plain_speed:11.1f} {view_speed:13.1f} {statistics.median(ratios):6.2f} "
            f"({ratios[0]:.2f}-{ratios[-1]:.2f}) {runs_of[0][3] / MiB:8.1f}"
            f" {max(r[4] for r in runs_of):12.0f} MiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=1024, help="CSV size in MiB")
    parser.add_argument("--parquet-mib", type=int, help="Parquet size in MiB (default: --mib)")
    parser.add_argument("--repeat", type=int, default=3, help="A/B rounds (median, spread)")
    parser.add_argument("--http", action="store_true", help="through a real server")
    args = parser.parse_args()
    if args.http:
        with tempfile.TemporaryDirectory(prefix="escrow-bench-views-") as directory:
            over_http(Path(directory), args.mib, args.parquet_mib or args.mib, args.repeat)
        return
    with tempfile.TemporaryDirectory(prefix="escrow-bench-views-") as directory:
        root = Path(directory)
        sizes = prepare(root, args.mib, args.parquet_mib or args.mib)
        csv_sealed, parquet_sealed = root / "csv.sealed", root / "parquet.sealed"
        jsonl_sealed = root / "jsonl.sealed"
        results: dict[str, list[dict[str, Any]]] = {}
        runs = [
            ("CSV decrypt", decrypt_only, csv_sealed),
            ("CSV view", csv_view, csv_sealed),
            ("JSONL decrypt", decrypt_only, jsonl_sealed),
            ("JSONL view", jsonl_view, jsonl_sealed),
            ("Parquet decrypt", decrypt_only, parquet_sealed),
            ("Parquet view", parquet_view_run, parquet_sealed),
        ]
        for _ in range(args.repeat):  # alternate baseline and view, A/B/A/B
            for name, run, path in runs:
                results.setdefault(name, []).append(in_child(measured, run, path))
        resting = in_child(idle)
    print(
        f"CSV {args.mib} MiB ({sizes['csv_rows']} rows), "
        f"Parquet {sizes['parquet_mib']} MiB ({sizes['parquet_rows']} rows), cpu {os.cpu_count()}"
    )
    print(f"idle (pyarrow and tabular loaded): peak RSS {resting:.0f} MiB")
    print(
        f"{'':16} {'MiB/s in':>9} {'ratio (min-max)':>17} {'MiB out':>8} {'peak RSS':>9}"
        f" {'above idle':>10}"
    )
    for name, runs_of in results.items():
        baselines = results[name.split()[0] + " decrypt"]
        ratios = sorted(r["mib_s"] / b["mib_s"] for r, b in zip(runs_of, baselines, strict=True))
        speed = statistics.median(r["mib_s"] for r in runs_of)
        peak = max(r["rss_mib"] for r in runs_of)
        print(
            f"{name:16} {speed:9.1f} {statistics.median(ratios):6.2f} "
            f"({ratios[0]:.2f}-{ratios[-1]:.2f}) {runs_of[0]['sent_mib']:8.1f} "
            f"{peak:7.0f} MiB {peak - resting:6.0f} MiB"
        )


if __name__ == "__main__":
    main()
