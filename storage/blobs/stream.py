"""BlobStream: the iterator of chunks that ``BlobStore.read`` returns."""

from __future__ import annotations

__all__ = ["READ_CHUNK_SIZE", "BlobStream"]

from collections.abc import Callable, Iterator
from types import TracebackType

READ_CHUNK_SIZE = 1024 * 1024


class BlobStream(Iterator[bytes]):
    """Chunks of at most ``chunk_size`` bytes from an open file or HTTP response.

    Memory stays bounded by one chunk. The underlying file or connection is released when
    the stream is exhausted, on ``close()`` (use ``with`` or ``contextlib.closing`` when you
    may stop early), on an error while reading, or at the latest when garbage collected.
    """

    def __init__(
        self,
        read: Callable[[int], bytes],
        release: Callable[[bool], None],
        *,
        length: int | None = None,
        chunk_size: int = READ_CHUNK_SIZE,
    ) -> None:
        """Wrap ``read(n)`` (returns at most n bytes, b"" at the end) and ``release(exhausted)``.

        ``length`` caps how many bytes are read in total (None: until ``read`` returns b"").
        """
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self._read = read
        self._release: Callable[[bool], None] | None = release
        self._remaining = length
        self._chunk_size = chunk_size

    def __iter__(self) -> BlobStream:
        return self

    def __next__(self) -> bytes:
        if self._release is None:
            raise StopIteration
        want = self._chunk_size
        if self._remaining is not None:
            want = min(want, self._remaining)
        data = b""
        if want > 0:
            try:
                data = self._read(want)
            except BaseException:
                self.close()
                raise
        if not data:
            self._finish(exhausted=True)
            raise StopIteration
        if self._remaining is not None:
            self._remaining -= len(data)
        return data

    def close(self) -> None:
        """Release the underlying file or connection; idempotent."""
        self._finish(exhausted=False)

    def _finish(self, *, exhausted: bool) -> None:
        release, self._release = self._release, None
        if release is not None:
            release(exhausted)

    def __enter__(self) -> BlobStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if hasattr(self, "_release"):  # __init__ may have raised before setting it
            self.close()


def empty_stream() -> BlobStream:
    """A stream with no chunks (for zero-length reads)."""
    return BlobStream(lambda _size: b"", lambda _exhausted: None, length=0)
