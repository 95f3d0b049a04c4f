"""The blob store interface: BlobStore and the BlobWriter it hands out.

Contract shared by every implementation (and checked by one test suite run against each):

- Keys are validated with ``validate_key``; a bad key raises InvalidBlobKeyError before any I/O.
- A blob becomes visible only when its writer commits, and then atomically: readers see
  either nothing (BlobNotFoundError) or the complete blob, never a prefix of it.
- Committing onto an existing key replaces the old blob atomically; until the commit,
  readers keep seeing the old content.
- An aborted (or abandoned) writer leaves nothing visible and no temporary data behind.
- Calls are synchronous and block; memory per read or write stays bounded by a few chunks.
"""

from __future__ import annotations

__all__ = ["BlobStore", "BlobWriter"]

from abc import ABC, abstractmethod
from collections.abc import Iterator
from types import TracebackType

from storage.blobs.stream import BlobStream


class BlobWriter(ABC):
    """Streams one blob into a store; nothing is visible until ``commit``.

    Use it as a context manager: leaving the block without committing (normally or by an
    exception) aborts. ``write`` or ``commit`` after the writer is finished raises ValueError.
    """

    key: str

    @abstractmethod
    def write(self, data: bytes | memoryview) -> None:
        """Append ``data``; may block while the backend catches up (backpressure)."""

    @abstractmethod
    def commit(self) -> int:
        """Make the blob visible under ``key`` atomically and return its size in bytes."""

    @abstractmethod
    def abort(self) -> None:
        """Discard everything written; idempotent, and a no-op after a successful commit."""

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()


class BlobStore(ABC):
    """Named, immutable-once-written blobs (see the module docstring for the contract)."""

    @abstractmethod
    def open_writer(self, key: str) -> BlobWriter:
        """Start writing the blob ``key``; commit the writer to make it visible."""

    @abstractmethod
    def read(self, key: str, offset: int = 0, length: int | None = None) -> BlobStream:
        """Stream ``blob[offset:offset + length]`` (to the end if ``length`` is None).

        Like slicing, a range past the end yields fewer or no bytes. Raises
        BlobNotFoundError before returning if there is no blob; ValueError if ``offset``
        or ``length`` is negative.
        """

    @abstractmethod
    def size(self, key: str) -> int:
        """Size of the blob in bytes; BlobNotFoundError if there is none."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a committed blob exists under ``key``."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the blob; idempotent (no error if it is already gone)."""

    @abstractmethod
    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Keys of committed blobs starting with ``prefix``, in no particular order."""

    @abstractmethod
    def check(self) -> None:
        """Readiness probe: return if the store can serve, else raise BlobStoreUnavailableError."""


def check_range(offset: int, length: int | None) -> None:
    """Reject negative offsets and lengths (shared by every ``read``)."""
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")
    if length is not None and length < 0:
        raise ValueError(f"length must not be negative, got {length}")
