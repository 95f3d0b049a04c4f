"""Each process sizes its two thread pools from ESCROW_THREADS, and the database pool keeps a
connection for every thread of both."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

from anyio import to_thread

from escrow.threads import pool_connections, thread_pools
from storage.db import Database


def _app(threads: int) -> SimpleNamespace:
    settings = SimpleNamespace(threads=threads)
    return SimpleNamespace(state=SimpleNamespace(components=SimpleNamespace(settings=settings)))


def test_both_pools_of_the_serving_loop_get_the_configured_threads() -> None:
    threads = 3
    # Every task waits until all of them run at once: only a pool of at least `threads`
    # threads lets the barrier open (a smaller one raises BrokenBarrierError at the timeout).
    barrier = threading.Barrier(threads, timeout=30)

    def meet() -> str:
        barrier.wait()
        return threading.current_thread().name

    async def serve() -> tuple[float, list[str]]:
        async with thread_pools(_app(threads)):
            tokens = to_thread.current_default_thread_limiter().total_tokens
            loop = asyncio.get_running_loop()
            names = await asyncio.gather(*(loop.run_in_executor(None, meet) for _ in range(3)))
        return tokens, list(names)

    tokens, names = asyncio.run(serve())
    assert tokens == threads
    assert all(name.startswith("escrow-handler") for name in names)


def test_the_database_pool_keeps_a_connection_per_thread_of_both_pools(postgres_url: str) -> None:
    kept, spare = pool_connections(16)
    assert (kept, spare) == (32, 4)
    database = Database(postgres_url, connections=(kept, spare))
    try:
        assert database.engine.pool.size() == kept  # type: ignore[attr-defined]
    finally:
        database.dispose()
