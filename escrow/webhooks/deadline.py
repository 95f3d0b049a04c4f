"""One deadline for a whole webhook attempt: DNS, connect, TLS, send and the receiver's answer.

httpx and httpcore time each socket operation on its own, so a receiver that trickles its
answer a byte at a time, each byte inside the read timeout, could hold a sender for as long
as it liked. Here every operation gets what is left of the attempt's deadline (never more),
and once nothing is left the attempt fails with a timeout. The name lookup, which cannot be
given a timeout, runs on a thread of its own that the attempt stops waiting for at the
deadline.
"""

from __future__ import annotations

import ssl
import threading
import time
import typing
from collections.abc import Callable, Iterable
from typing import TypeVar

import httpcore

T = TypeVar("T")
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class DeadlineExceededError(Exception):
    """The attempt's deadline passed before it completed."""


class Deadline:
    """A point on the monotonic clock; ``left`` is what an operation may still take."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def left(self, error: type[Exception] = DeadlineExceededError) -> float:
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise error("the attempt's deadline passed")
        return remaining

    def bound(self, timeout: float | None, error: type[Exception]) -> float:
        left = self.left(error)
        return left if timeout is None else min(timeout, left)

    def call(self, function: Callable[[], T]) -> T:
        """``function()`` on a daemon thread, waited for until the deadline at most.

        Fails closed: at the deadline the caller gets DeadlineExceededError and the thread's
        eventual result is dropped (a blocking name lookup cannot be interrupted)."""
        outcome: list[T] = []
        failure: list[BaseException] = []

        def target() -> None:
            try:
                outcome.append(function())
            except BaseException as exc:  # handed to the caller below
                failure.append(exc)

        worker = threading.Thread(target=target, name="webhook-resolve", daemon=True)
        worker.start()
        worker.join(self.left())
        if worker.is_alive():
            raise DeadlineExceededError("the attempt's deadline passed")
        if failure:
            raise failure[0]
        return outcome[0]


class DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read, write and TLS handshake ends by the deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.bound(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = self._deadline.bound(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, bounded), self._deadline
        )

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's synchronous sockets, with every operation bounded by one deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self._inner = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = self._deadline.bound(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, bounded, local_address, socket_options)
        return DeadlineStream(stream, self._deadline)
