"""Deposit and download throughput through the real HTTP server vs. the raw blob store.

    .venv/bin/python benchmarks/deposit.py [--mib 512] [--repeat 1]

Same run, same machine, same bytes: the baseline writes and reads them straight to a
LocalBlobStore (temp file + fsync + rename), the server deposits them (hash + AES-GCM
streaming encryption + the same store) and streams them back decrypted. Prints both
throughputs, their ratios, and the server's peak RSS.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from live_server import live_server, partner_steward

from storage.blobs import LocalBlobStore

MiB = 1 << 20


def payload(mib: int) -> Iterator[bytes]:
    block = os.urandom(MiB)  # the same random MiB repeated: generation costs nothing
    for i in range(mib):
        yield block[:-8] + i.to_bytes(8, "big")


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


def through_api(mib: int) -> tuple[float, float, float]:
    with live_server() as server, partner_steward(server) as steward:
        dataset = steward.post(
            "/v1/datasets", json={"name": "bench", "media_type": "application/octet-stream"}
        ).json()
        started = time.perf_counter()
        deposited = steward.post(f"/v1/datasets/{dataset['id']}/versions", content=payload(mib))
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
    args = parser.parse_args()
    raw_put, raw_get = raw_store(args.mib)
    api_put, api_get, rss = through_api(args.mib)
    print(f"dataset: {args.mib} MiB")
    print(f"raw store   put {raw_put:8.1f} MiB/s   get {raw_get:8.1f} MiB/s")
    print(f"API         put {api_put:8.1f} MiB/s   get {api_get:8.1f} MiB/s")
    print(f"ratio       put {api_put / raw_put:8.2f}x       get {api_get / raw_get:8.2f}x")
    print(f"server peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
