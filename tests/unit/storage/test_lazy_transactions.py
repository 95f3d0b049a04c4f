"""On PostgreSQL a transaction begins at its first statement that needs one: plain reads run
on their own (no BEGIN, no COMMIT), and from the first write, lock or setting on, everything
is one transaction as before (real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Insert, func, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from storage.db import Database, _needs_transaction
from storage.models import RateBucket
from tests.unit.storage.test_read_committing_session import WRITES as ALL_WRITES


def _status(session: Session) -> TransactionStatus:
    driver: psycopg.Connection[object] = session.connection().connection.driver_connection  # type: ignore[assignment]
    return driver.info.transaction_status


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(RateBucket)) or 0


def _insert(subject: str) -> Insert:
    return insert(RateBucket).values(bucket="test", subject=subject, tokens=1, at=0, full_at=0)


def test_reads_run_outside_any_transaction(db: Database) -> None:
    with db.session() as session:
        assert _count(session) == 0
        session.scalars(select(RateBucket.subject)).all()
        assert _status(session) == TransactionStatus.IDLE


# The writes a ReadCommittingSession sees, but for a change never sent (nothing to begin).
WRITES = {name: write for name, write in ALL_WRITES.items() if name != "a change still pending"}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_write_opens_the_transaction_that_everything_after_it_shares(
    db: Database, write: Callable[[Session], object]
) -> None:
    with db.session() as session:
        assert _count(session) == 0  # outside any transaction
        write(session)
        assert _status(session) == TransactionStatus.INTRANS
        session.execute(_insert("second"))
        assert _count(session) == 2  # the transaction sees its own writes
        session.rollback()
        assert _count(session) == 0  # and both are undone together


def test_a_select_that_locks_rows_holds_them_until_the_transaction_ends(db: Database) -> None:
    with db.session() as setup:
        setup.execute(_insert("locked"))
        setup.commit()
    lock = select(RateBucket).where(RateBucket.subject == "locked")
    with db.session() as holder, db.session() as other:
        holder.execute(lock.with_for_update()).all()
        assert _status(holder) == TransactionStatus.INTRANS
        with pytest.raises(OperationalError, match="could not obtain lock"):
            other.execute(lock.with_for_update(nowait=True)).all()
        other.rollback()
        holder.commit()
        assert other.execute(lock.with_for_update(nowait=True)).all()


def test_a_local_setting_lasts_for_its_transaction(db: Database) -> None:
    """SET LOCAL outside a transaction would be lost at once (PostgreSQL only warns)."""
    with db.session() as session:
        session.execute(text("SET LOCAL lock_timeout = '1234ms'"))
        assert session.scalar(text("SHOW lock_timeout")) == "1234ms"


def test_a_connection_back_from_the_pool_begins_lazily_again(postgres_url: str) -> None:
    db = Database(postgres_url, connections=(1, 0))  # one connection: the next session's
    try:
        with db.session() as session:
            session.execute(text("CREATE TEMPORARY TABLE seen (n int)"))
            session.commit()
        with db.session() as session:
            session.scalar(select(func.count()).select_from(RateBucket))
            assert _status(session) == TransactionStatus.IDLE
    finally:
        db.dispose()


@pytest.mark.parametrize(
    ("sql", "needs"),
    [
        ("SELECT a FROM t WHERE b = %(b)s", False),
        ("  SELECT 1", False),
        ("SELECT a FROM t FOR UPDATE", True),
        ("SELECT a FROM t FOR UPDATE SKIP LOCKED", True),
        ("SELECT a FROM t for\n share", True),
        ("SELECT a FROM t FOR NO KEY UPDATE", True),
        ("SELECT a FROM t FOR KEY SHARE", True),
        ("INSERT INTO t VALUES (1)", True),
        ("WITH x AS (DELETE FROM t RETURNING a) SELECT a FROM x", True),
        ("SET LOCAL lock_timeout = '1s'", True),
        ("SAVEPOINT sa_1", True),
        ("SELECTED", True),
        ("SELECT 1; DELETE FROM t", True),  # more than one command
        (b"SELECT 1", True),  # not text: not vouched for
    ],
)
def test_only_a_plain_select_goes_without_a_transaction(sql: object, needs: bool) -> None:
    assert _needs_transaction(sql) is needs
