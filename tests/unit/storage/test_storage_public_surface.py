"""The storage package's public surface is exactly its __all__."""

from __future__ import annotations

import storage


def test_storage_all_is_exact_and_resolvable() -> None:
    assert set(storage.__all__) == {
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
    }
    for name in storage.__all__:
        assert getattr(storage, name) is not None
