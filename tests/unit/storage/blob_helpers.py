"""Helpers shared by the blob store tests."""

from __future__ import annotations

import os
import random
from collections.abc import Iterable

from storage.blobs import BlobStore, LocalBlobStore, S3BlobStore
from storage.blobs.local import TEMP_DIR_NAME
from tests.fixtures.s3 import pending_uploads

MiB = 1024 * 1024


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def uneven(data: bytes, sizes: Iterable[int] = (1, 1000, 65536, MiB + 7, 333_333)) -> list[bytes]:
    """Split ``data`` into chunks of cycling, deliberately unaligned sizes."""
    chunks: list[bytes] = []
    sizes = list(sizes)
    offset = 0
    while offset < len(data):
        size = sizes[len(chunks) % len(sizes)]
        chunks.append(data[offset : offset + size])
        offset += size
    return chunks


def write_blob(store: BlobStore, key: str, data: bytes) -> int:
    with store.open_writer(key) as writer:
        for chunk in uneven(data):
            writer.write(chunk)
        return writer.commit()


def read_all(store: BlobStore, key: str, offset: int = 0, length: int | None = None) -> bytes:
    with store.read(key, offset, length) as chunks:
        return b"".join(chunks)


def leftovers(store: BlobStore) -> list[str]:
    """Temporary data a store still holds: temp files, or incomplete multipart uploads."""
    if isinstance(store, LocalBlobStore):
        return os.listdir(store.root / TEMP_DIR_NAME)
    if isinstance(store, S3BlobStore):
        return [name for name, _ in pending_uploads(store.client, store.bucket)]
    raise TypeError(f"no leftovers probe for {type(store).__name__}")
