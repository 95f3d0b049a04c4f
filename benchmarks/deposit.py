"""Deposit and download throughput through the real HTTP server vs. the raw blob store.

    .venv/bin/python benchmarks/deposit.py [--mib 512] [--csv]

Same run, same machine, same bytes, two baselines: the raw store (the bytes written and
read straight to a LocalBlobStore: temp file + fsync + rename) and a bare litestar app
under the same uvicorn settings (upload to a sink, download from memory: the HTTP
ceiling). The server deposits them (hash + AES-GCM streaming encryption + the same store)
and streams them back decrypted. Prints throughputs, ratios and the server's peak RSS.
With ``--csv`` the bytes are a CSV table (benchmarks/views.py's rows) deposited as
``text/csv`` into a dataset without a schema: the deposit also computes the receipt's
content digest and infers the schema (tabular.scan) in the same pass.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from live_server import free_port, live_server, partner_steward

from storage.blobs import LocalBlobStore

MiB = 1 << 20


CSV = False  # set by --csv


def payload(mib: int) -> Iterator[bytes]:
    if CSV:
        yield from csv_payload(mib)
        return
    block = os.urandom(MiB)  # the same random MiB repeated: generation costs nothing
    for i in range(mib):
        yield block[:-8] + i.to_bytes(8, "big")


def csv_payload(mib: int) -> Iterator[bytes]:
    import random

    from views import csv_block

    block, _ = csv_block(random.Random(7), 0)
    yield b"id,region,amount,ts,note,secret\r\n"
    for _ in range(mib):
        yield block


def raw_store(mib: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="escrow-bench-raw-") as root:
        store = LocalBlobStore(Path(root))
        started = time.perf_counter()
        with store.open_writer("raw.bin") as writer:
            for chunk in payload(mib):
                writer.write(chunk)
            writer.commit()
        wrote = time.perf_counter() - started
        started = time.perf_counter()
        digest = hashlib.sha256()
        for chunk in store.read("raw.bin"):
            digest.update(chunk)
        read = time.perf_counter() - started
    return mib / wrote, mib / read


def bare_http(mib: int) -> tuple[float, float]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_stream:app",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--log-level",
            "warning",
        ],
        cwd=Path(__file__).parent,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as client:
            for _ in range(100):
                try:
                    client.get("/bytes/0")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            started = time.perf_counter()
            client.post("/sink", content=payload(mib)).raise_for_status()
            put = mib / (time.perf_counter() - started)
            started = time.perf_counter()
            digest = hashlib.sha256()
            with client.stream("GET", f"/bytes/{mib}") as response:
                for chunk in response.iter_bytes(MiB):
                    digest.update(chunk)
            return put, mib / (time.perf_counter() - started)
    finally:
        process.terminate()
        process.wait(timeout=30)


def through_api(mib: int) -> tuple[float, float, float]:
    with live_server() as server, partner_steward(server) as steward:
        media_type = "text/csv" if CSV else "application/octet-stream"
        dataset = steward.post(
            "/v1/datasets", json={"name": "bench", "media_type": media_type}
        ).json()
        started = time.perf_counter()
        deposited = steward.post(
            f"/v1/datasets/{dataset['id']}/versions",
            content=payload(mib),
            headers={"Content-Type": media_type},
        )
        deposit_s = time.perf_counter() - started
        deposited.raise_for_status()
        expected = deposited.json()["sha256"]
        started = time.perf_counter()
        digest = hashlib.sha256()
        url = f"/v1/datasets/{dataset['id']}/versions/1/content"
        with steward.stream("GET", url) as response:
            for chunk in response.iter_bytes(MiB):
                digest.update(chunk)
        download_s = time.perf_counter() - started
        assert digest.hexdigest() == expected, "downloaded bytes differ from the receipt"
        return mib / deposit_s, mib / download_s, server.peak_rss_mib()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=512, help="dataset size in MiB")
    parser.add_argument("--csv", action="store_true", help="deposit a CSV table (text/csv)")
    args = parser.parse_args()
    global CSV
    CSV = args.csv
    raw_put, raw_get = raw_store(args.mib)
    bare_put, bare_get = bare_http(args.mib)
    api_put, api_get, rss = through_api(args.mib)
    print(f"dataset: {args.mib} MiB")
    print(f"raw store      put {raw_put:8.1f} MiB/s   get {raw_get:8.1f} MiB/s")
    print(f"bare litestar  put {bare_put:8.1f} MiB/s   get {bare_get:8.1f} MiB/s")
    print(f"escrow API     put {api_put:8.1f} MiB/s   get {api_get:8.1f} MiB/s")
    print(f"vs raw store   put {api_put / raw_put:8.2f}x       get {api_get / raw_get:8.2f}x")
    print(f"vs bare HTTP   put {api_put / bare_put:8.2f}x       get {api_get / bare_get:8.2f}x")
    print(f"server peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
