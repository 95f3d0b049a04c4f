"""The SQLAlchemy plugin's configuration for an engine that the app borrows, not owns."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import cast

from advanced_alchemy.extensions.litestar import SQLAlchemySyncConfig
from advanced_alchemy.extensions.litestar._utils import get_aa_scope_state  # as its handlers
from litestar import Litestar
from litestar.concurrency import sync_to_thread
from litestar.types import Message, Scope
from sqlalchemy.orm import Session

# The messages after which a request's session is no longer used (the stock handler's set).
_SESSION_ENDS = frozenset(
    {"http.response.start", "http.disconnect", "websocket.disconnect", "websocket.close"}
)


class BorrowedEngineConfig(SQLAlchemySyncConfig):
    """Provides the session dependency; never disposes the engine when the app shuts down.

    The engine belongs to ``components.db``, which outlives an app's lifespan (tests run many
    lifespans over one database; ``escrow serve`` disposes it after the server stops). The
    stock lifespan disposed it at every shutdown: a connection still checked out then (a
    background job's worker thread finishing its run) went back to the discarded pool and
    was never closed, which surfaced as a psycopg ResourceWarning in an unrelated test.

    The stock handler that closes the request's session is synchronous, so litestar ran it
    on a worker thread for every message sent: a thread hop per response start and one per
    body message, though only the first has work and only when the session still holds a
    transaction. ``close_request_session`` replaces it.
    """

    def __post_init__(self) -> None:
        if self.before_send_handler is None:
            self.before_send_handler = self.close_request_session
        super().__post_init__()

    async def close_request_session(self, message: Message, scope: Scope) -> None:
        """Close the request's session once its response starts: on the event loop when it
        holds no transaction (nothing to send to the database), else on a worker thread
        (ending its transaction is a round trip)."""
        if message["type"] not in _SESSION_ENDS:
            return
        session = cast(
            "Session | None", get_aa_scope_state(scope, self.session_scope_key, pop=True)
        )
        if session is None:
            return
        if session.get_transaction() is None:
            session.close()
        else:
            await sync_to_thread(session.close)

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncGenerator[None, None]:
        app.state.update(self.create_app_state_items())
        yield
