"""Blob storage: streamed, atomically committed blobs behind one interface.

``open_blob_store(url, ...)`` builds a LocalBlobStore (``file://``) or an S3BlobStore
(``s3://``); both honour the contract in ``storage.blobs.base``.
"""

from __future__ import annotations

from storage.blobs.base import BlobStore, BlobWriter
from storage.blobs.errors import (
    BlobNotFoundError,
    BlobStoreConfigError,
    BlobStoreError,
    BlobStoreUnavailableError,
    InvalidBlobKeyError,
)
from storage.blobs.factory import make_s3_client, open_blob_store
from storage.blobs.keys import validate_key
from storage.blobs.local import LocalBlobStore
from storage.blobs.s3 import S3BlobStore
from storage.blobs.stream import READ_CHUNK_SIZE, BlobStream

__all__ = [
    "READ_CHUNK_SIZE",
    "BlobNotFoundError",
    "BlobStore",
    "BlobStoreConfigError",
    "BlobStoreError",
    "BlobStoreUnavailableError",
    "BlobStream",
    "BlobWriter",
    "InvalidBlobKeyError",
    "LocalBlobStore",
    "S3BlobStore",
    "make_s3_client",
    "open_blob_store",
    "validate_key",
]
