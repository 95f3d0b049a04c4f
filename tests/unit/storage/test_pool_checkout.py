"""The pool hands out no connection the server has ended, without a round trip to find out
(real PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import create_engine, func, select
from sqlalchemy.pool import NullPool

from storage.db import Database


def _backend(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.pg_backend_pid())) or 0)


def _terminate(db: Database, pid: int) -> None:
    """Ends the backend from outside the pool, and waits (up to 10 s) until it has exited:
    its socket is closed."""
    admin = create_engine(db.url, poolclass=NullPool)
    try:
        with admin.connect() as connection:
            assert connection.scalar(select(func.pg_terminate_backend(pid, 10_000))) is True
    finally:
        admin.dispose()


def test_a_connection_whose_backend_was_terminated_is_replaced_at_checkout(db: Database) -> None:
    """A restart or an idle timeout ends pooled connections while nobody holds them: the next
    request gets a working one, not the error of a dead one."""
    ended = _backend(db)
    _terminate(db, ended)
    assert _backend(db) != ended  # answered, on a new connection


def test_a_live_connection_is_reused(db: Database) -> None:
    assert _backend(db) == _backend(db)  # most recently returned first, and not refused
