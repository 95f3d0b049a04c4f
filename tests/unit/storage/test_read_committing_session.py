"""Sessions end a transaction that only read with COMMIT (psycopg keeps what it prepared),
and anything that may have written with ROLLBACK, as before (real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, insert, literal, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from storage.db import Database, discard_writes, raw_execute
from storage.models import RateBucket


@contextmanager
def endings(db: Database) -> Iterator[list[str]]:
    """ "commit" or "rollback" for each transaction the engine ends while the block runs."""
    seen: list[str] = []

    def committed(_conn: object) -> None:
        seen.append("commit")

    def rolled_back(_conn: object) -> None:
        seen.append("rollback")

    event.listen(db.engine, "commit", committed)
    event.listen(db.engine, "rollback", rolled_back)
    try:
        yield seen
    finally:
        event.remove(db.engine, "commit", committed)
        event.remove(db.engine, "rollback", rolled_back)


def _bucket(subject: str) -> RateBucket:
    return RateBucket(bucket="test", subject=subject, tokens=1.0, at=0.0, full_at=0.0)


def _buckets(db: Database) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(RateBucket)) or 0


def test_a_session_that_only_read_ends_with_commit(db: Database) -> None:
    with endings(db) as ended, db.session() as session:
        session.scalar(select(func.count()).select_from(RateBucket))
        session.scalars(select(RateBucket).with_for_update()).all()  # a lock is not a write
    assert ended == ["commit"]


def test_statements_prepared_by_a_read_outlive_its_transaction(postgres_url: str) -> None:
    """What the COMMIT is for: psycopg forgets its prepared statements at every ROLLBACK."""
    db = Database(postgres_url, connections=(1, 0))  # one connection: the next session's
    try:
        query = select(RateBucket.subject).where(RateBucket.bucket == "test")
        for _ in range(6):  # psycopg prepares a statement at its fifth use on a connection
            with db.session() as session:
                session.scalars(query).all()
        with db.session() as session:
            prepared = session.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
        assert prepared == 1
    finally:
        db.dispose()


def _flushed(session: Session) -> None:
    session.add(_bucket("flushed"))
    session.flush()


WRITES: dict[str, Callable[[Session], object]] = {
    "a flushed change": _flushed,
    "a change still pending": lambda s: s.add(_bucket("pending")),
    "a Core insert": lambda s: s.execute(
        insert(RateBucket).values(bucket="test", subject="core", tokens=1, at=0, full_at=0)
    ),
    "SQL text": lambda s: s.execute(
        text("INSERT INTO rate_buckets VALUES ('test', 'text', 1, 0, 0)")
    ),
    "a raw statement": lambda s: raw_execute(
        s, [("INSERT INTO rate_buckets VALUES ('test', 'raw', 1, 0, 0)", None)]
    ),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_session_that_wrote_and_did_not_commit_rolls_back(
    db: Database, write: Callable[[Session], object]
) -> None:
    with endings(db) as ended, db.session() as session:
        session.scalar(select(func.count()).select_from(RateBucket))
        write(session)
    assert ended == ["rollback"]
    assert _buckets(db) == 0


def test_a_failed_write_rolls_back(db: Database) -> None:
    with endings(db) as ended, db.session() as session, pytest.raises(DBAPIError):
        session.execute(text("INSERT INTO rate_buckets VALUES ('test', 'x', 1 / 0, 0, 0)"))
    assert ended == ["rollback"]


def test_a_failed_read_closes_and_keeps_nothing(db: Database) -> None:
    with db.session() as session, pytest.raises(DBAPIError):
        session.add(_bucket("dropped"))
        session.execute(select(literal(1) / literal(0)))  # flushes the add first
    assert _buckets(db) == 0


def test_a_session_whose_connection_died_closes_without_error(db: Database) -> None:
    """The server went away mid-request (a restart): nothing to commit, nothing raised."""
    with db.session() as session:
        pid = session.scalar(select(func.pg_backend_pid()))
        with db.engine.connect() as other:
            other.execute(select(func.pg_terminate_backend(pid)))
        with pytest.raises(DBAPIError):
            session.scalar(select(func.count()).select_from(RateBucket))
    assert _buckets(db) == 0  # and the pool serves again


def test_after_a_commit_a_read_only_transaction_commits_again(db: Database) -> None:
    with endings(db) as ended, db.session() as session:
        session.add(_bucket("kept"))
        session.commit()
        session.scalar(select(func.count()).select_from(RateBucket))
    assert ended == ["commit", "commit"]
    assert _buckets(db) == 1


def test_discarding_writes_rolls_back_a_write_and_lets_a_read_go_on(db: Database) -> None:
    with endings(db) as ended, db.session() as session:
        session.scalar(select(func.count()).select_from(RateBucket))
        discard_writes(session)  # only read: the transaction goes on
        session.add(_bucket("dropped"))
        session.flush()
        discard_writes(session)
        session.add(_bucket("kept"))
        session.commit()
    assert ended == ["rollback", "commit"]
    with db.session() as session:
        assert session.scalars(select(RateBucket.subject)).all() == ["kept"]
