"""The request's session is closed when its response starts, and only then: on the event
loop when it holds no transaction, on a worker thread when closing it is a round trip."""

from __future__ import annotations

import threading
from typing import cast

import anyio
import pytest
from advanced_alchemy.extensions.litestar._utils import get_aa_scope_state, set_aa_scope_state
from litestar.types import Message, Scope
from sqlalchemy import select

from escrow.sqlalchemy_config import BorrowedEngineConfig
from storage.db import Database


class _Session:
    """Stands in for a session without a transaction, to see where ``close`` runs."""

    def __init__(self) -> None:
        self.closed_on: int | None = None

    def get_transaction(self) -> None:
        return None

    def close(self) -> None:
        self.closed_on = threading.get_ident()


@pytest.fixture
def config(db: Database) -> BorrowedEngineConfig:
    return BorrowedEngineConfig(engine_instance=db.engine, session_maker=db.sessionmaker)


def _scope(config: BorrowedEngineConfig, session: object) -> Scope:
    scope = cast(Scope, {"type": "http"})
    set_aa_scope_state(scope, config.session_scope_key, session)
    return scope


def _send(config: BorrowedEngineConfig, message: Message, scope: Scope) -> None:
    anyio.run(config.close_request_session, message, scope)


def test_a_body_message_leaves_the_session_alone(config: BorrowedEngineConfig) -> None:
    session = _Session()
    scope = _scope(config, session)
    _send(config, {"type": "http.response.body", "body": b"", "more_body": False}, scope)
    assert session.closed_on is None
    assert get_aa_scope_state(scope, config.session_scope_key) is session


def test_a_session_without_a_transaction_is_closed_on_the_event_loop(
    config: BorrowedEngineConfig,
) -> None:
    session = _Session()
    scope = _scope(config, session)
    loop_thread: list[int] = []

    async def respond() -> None:
        loop_thread.append(threading.get_ident())
        await config.close_request_session(
            {"type": "http.response.start", "status": 200, "headers": []}, scope
        )

    anyio.run(respond)
    assert session.closed_on == loop_thread[0]
    assert get_aa_scope_state(scope, config.session_scope_key) is None


def test_a_session_that_read_is_closed_and_its_connection_returned(
    config: BorrowedEngineConfig, db: Database
) -> None:
    session = db.sessionmaker()
    session.execute(select(1))
    scope = _scope(config, session)
    _send(config, {"type": "http.response.start", "status": 200, "headers": []}, scope)
    assert session.get_transaction() is None
    assert get_aa_scope_state(scope, config.session_scope_key) is None
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
