"""The SQLAlchemy plugin's configuration for an engine that the app borrows, not owns."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from advanced_alchemy.extensions.litestar import SQLAlchemySyncConfig
from litestar import Litestar


class BorrowedEngineConfig(SQLAlchemySyncConfig):
    """Provides the session dependency; never disposes the engine when the app shuts down.

    The engine belongs to ``components.db``, which outlives an app's lifespan (tests run many
    lifespans over one database; ``escrow serve`` disposes it after the server stops). The
    stock lifespan disposed it at every shutdown: a connection still checked out then (a
    background job's worker thread finishing its run) went back to the discarded pool and
    was never closed, which surfaced as a psycopg ResourceWarning in an unrelated test.
    """

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncGenerator[None, None]:
        app.state.update(self.create_app_state_items())
        yield
