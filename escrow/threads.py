"""The threads a process gives to blocking work, and the database connections they need.

Blocking work runs on two pools of threads: the event loop's default executor, where
litestar runs synchronous route handlers, and anyio's worker threads, for the hops escrow
makes itself (content streams, deposits, authentication, background jobs). Each gets
``ESCROW_THREADS``. The database pool keeps a connection for every one of those threads
(SQLAlchemy closes each connection beyond its pool size as it comes back, so a pool
smaller than the threads using it opens and closes connections under load), plus a few
spare ones for a session opened beside another (a failure audited in a session of its own).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread


def pool_connections(threads: int) -> tuple[int, int]:
    """(connections kept, spare connections opened beyond them) for ``threads`` per pool."""
    return 2 * threads, max(2, threads // 4)


@asynccontextmanager
async def thread_pools(app: Any) -> AsyncIterator[None]:
    """Sizes both pools of the serving event loop (a lifespan: they are per loop, and the
    loop shuts its default executor down when it ends)."""
    threads = app.state.components.settings.threads
    to_thread.current_default_thread_limiter().total_tokens = threads
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(threads, thread_name_prefix="escrow-handler")
    )
    yield
