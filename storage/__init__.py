"""Storage for Partner Escrow: the metadata database and the blob stores.

Imports nothing from ``escrow``; tables live in ``storage.models``.
"""

from __future__ import annotations

from storage.blobs import (
    BlobNotFoundError,
    BlobStore,
    BlobStoreError,
    BlobStoreUnavailableError,
    BlobWriter,
    open_blob_store,
)
from storage.db import Database, ReadCommittingSession, discard_writes, raw_execute

__all__ = [
    "BlobNotFoundError",
    "BlobStore",
    "BlobStoreError",
    "BlobStoreUnavailableError",
    "BlobWriter",
    "Database",
    "ReadCommittingSession",
    "discard_writes",
    "open_blob_store",
    "raw_execute",
]
