"""Errors raised by blob stores.

```
BlobStoreError                    any failure of the blob layer
├── BlobNotFoundError             no visible blob under the key
├── BlobStoreUnavailableError     the backend cannot be reached, timed out or answered 5xx
│                                 (the API maps it to 503: retrying later may succeed)
└── BlobStoreConfigError          the store is misconfigured (bad ESCROW_BLOB_URL, missing
                                  bucket, rejected credentials, unusable root directory)
ValueError
└── InvalidBlobKeyError           a key or prefix that is not a safe relative name
```
"""

from __future__ import annotations

__all__ = [
    "BlobNotFoundError",
    "BlobStoreConfigError",
    "BlobStoreError",
    "BlobStoreUnavailableError",
    "InvalidBlobKeyError",
]


class BlobStoreError(Exception):
    """A blob store operation failed."""


class BlobNotFoundError(BlobStoreError):
    """No committed blob exists under the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no blob under key {key!r}")
        self.key = key


class BlobStoreUnavailableError(BlobStoreError):
    """The backend cannot be reached, timed out, or failed on its side (5xx)."""


class BlobStoreConfigError(BlobStoreError):
    """The store is misconfigured; retrying will not help until the configuration changes."""


class InvalidBlobKeyError(ValueError):
    """A key or prefix is not a safe '/'-separated relative name."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"invalid blob key {key!r}: {reason}")
        self.key = key
        self.reason = reason
