"""Periodic background jobs that live as long as the app (litestar lifespan hooks)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from anyio import to_thread
from litestar import Litestar

log = logging.getLogger("escrow.schedule")

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]


def every(
    name: str,
    interval: Callable[[Any], int],
    job: Callable[[Any], object],
    *,
    on_start: Callable[[Any], object] | None = None,
) -> Lifespan:
    """A lifespan that runs ``job(components)`` in a worker thread every interval seconds.

    ``on_start`` runs once before the app serves. The first periodic run is one interval
    after start; an interval of 0 disables the job; a failing run is logged and the next one
    retries.
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        components = app.state.components
        if on_start is not None:
            await to_thread.run_sync(on_start, components)
        seconds = interval(components)
        if seconds <= 0:
            yield
            return
        task = asyncio.create_task(_loop(name, seconds, job, components), name=name)
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan


async def _loop(name: str, seconds: int, job: Callable[[Any], object], components: Any) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await to_thread.run_sync(job, components)
        except Exception:
            log.exception("scheduled job %s failed", name)
