"""BoundedPipe: hands bytes from a writer thread to an upload thread with backpressure."""

from __future__ import annotations

__all__ = ["BoundedPipe", "PipeClosedError", "PipeReader", "UploadAbortedError"]

import io
import threading
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


class UploadAbortedError(Exception):
    """Raised to the consumer when the producer aborts, so the upload fails and is cleaned up."""


class PipeClosedError(Exception):
    """Raised to the producer when the consumer has stopped (the upload ended or failed)."""


class BoundedPipe:
    """A byte queue holding at most about ``capacity`` bytes (plus one ``put``).

    One producer calls ``put``/``close_write``/``abort``; one consumer calls ``read`` and
    finally ``close_read``. Either side may be in another thread; blocked calls wake up
    when the other side makes room, adds data, finishes or aborts.
    """

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._cond = threading.Condition()
        self._chunks: deque[memoryview] = deque()
        self._buffered = 0
        self._eof = False
        self._aborted = False
        self._reader_closed = False

    def put(self, data: bytes) -> None:
        """Queue ``data`` (not copied: pass bytes nobody mutates); blocks while the pipe is full."""
        with self._cond:
            while self._buffered >= self._capacity and not self._closed_for_producer():
                self._cond.wait()
            if self._closed_for_producer():
                raise PipeClosedError
            if self._eof:
                raise ValueError("put after close_write")
            self._chunks.append(memoryview(data))
            self._buffered += len(data)
            self._cond.notify_all()

    def close_write(self) -> None:
        """Signal end of data: ``read`` returns short, then b""."""
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def abort(self) -> None:
        """Drop queued data; the consumer's next ``read`` raises UploadAbortedError."""
        with self._cond:
            self._aborted = True
            self._chunks.clear()
            self._buffered = 0
            self._cond.notify_all()

    def read(self, size: int = -1) -> bytes:
        """Return ``size`` bytes (all if negative), fewer only at end of data; blocks until then.

        Raises UploadAbortedError if the producer aborts.
        """
        parts: list[memoryview] = []
        need = size if size >= 0 else None
        with self._cond:
            while True:
                if self._aborted:
                    raise UploadAbortedError
                while self._chunks and need != 0:
                    chunk = self._chunks.popleft()
                    if need is not None and len(chunk) > need:
                        self._chunks.appendleft(chunk[need:])
                        chunk = chunk[:need]
                    parts.append(chunk)
                    self._buffered -= len(chunk)
                    if need is not None:
                        need -= len(chunk)
                    self._cond.notify_all()
                if need == 0 or (self._eof and not self._chunks):
                    break
                self._cond.wait()
        return b"".join(parts)

    def close_read(self) -> None:
        """Signal that the consumer stopped; a blocked or later ``put`` raises PipeClosedError."""
        with self._cond:
            self._reader_closed = True
            self._cond.notify_all()

    def _closed_for_producer(self) -> bool:
        return self._aborted or self._reader_closed


class PipeReader(io.RawIOBase):
    """The consumer end of a BoundedPipe as a readable raw stream (what minio's put_object reads).

    ``read(n)`` returns exactly n bytes until the end of data, so minio assembles each part
    from one buffer instead of concatenating many small reads.
    """

    def __init__(self, pipe: BoundedPipe) -> None:
        super().__init__()
        self._pipe = pipe

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._pipe.read(size)

    def readall(self) -> bytes:
        return self._pipe.read(-1)

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        data = self._pipe.read(len(target))
        target[: len(data)] = data
        return len(data)
