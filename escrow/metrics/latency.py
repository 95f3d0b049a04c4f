"""Request latency by route template: an ASGI middleware around every routed request."""

from __future__ import annotations

import functools
from time import perf_counter

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Histogram

from escrow.instruments import REQUEST_SECONDS

# Scrapes would otherwise time themselves on every scrape and skew the histogram.
UNTIMED_ROUTES = frozenset({"/metrics"})


class RequestLatencyMiddleware:
    """Observes each HTTP request into REQUEST_SECONDS, labelled by the route *template*
    (``/v1/datasets/{dataset_id}``, never the raw path: ids would multiply the series),
    the method and the status class (``2xx``). Time runs until the last body byte is sent,
    so streamed downloads count whole. A request abandoned before its response started is
    not observed: it has no status to label it with.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = scope.get("path_template")
        if scope["type"] != ScopeType.HTTP or not route or route in UNTIMED_ROUTES:
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status: int | None = None

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        except Exception as exc:
            # Raised by an inner middleware (authentication): the app's outer handler
            # answers it, outside this wrapper, with the status the error carries.
            if status is None:
                status = status_of(exc)
            raise
        finally:
            if status is not None:
                _series(route, scope["method"], status // 100).observe(perf_counter() - started)


@functools.cache
def _series(route: str, method: str, status_class: int) -> Histogram:
    """The labelled child, looked up once: ``labels()`` takes a lock and builds a key on every
    call. Bounded by routes x methods x 5 status classes."""
    return REQUEST_SECONDS.labels(route, method, f"{status_class}xx")


def status_of(exc: Exception) -> int:
    """The status class an unhandled error is answered with (escrow.problems maps the rest
    to 5xx)."""
    for name in ("status_code", "status"):  # HTTPException, EscrowError
        value = getattr(exc, name, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    return 500
