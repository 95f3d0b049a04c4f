"""``storage.db.raw_execute``: statements on psycopg directly, in the session's transaction
(real PostgreSQL)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest
from psycopg import pq
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.pool import NullPool

from storage.db import Database, raw_execute
from storage.models import RateBucket

_INSERT = "INSERT INTO rate_buckets VALUES ('test', %(subject)s, 1, 0, 0)"
_COUNT = "SELECT count(*) FROM rate_buckets"


@pytest.fixture
def sequence(db: Database) -> Iterator[str]:
    """A sequence: it moves on even in a transaction that rolls back."""
    with db.engine.begin() as connection:
        connection.execute(text("CREATE SEQUENCE raw_execute_test"))
    yield "raw_execute_test"
    with db.engine.begin() as connection:
        connection.execute(text("DROP SEQUENCE raw_execute_test"))


def test_each_statement_gives_its_rows_and_sees_those_before_it(db: Database) -> None:
    with db.session() as session:
        rows = raw_execute(
            session,
            [
                (_COUNT, None),
                (_INSERT, {"subject": "a"}),
                (_COUNT, None),
                ("SELECT 1 WHERE false", None),
            ],
        )
        assert rows == [[(0,)], [], [(1,)], []]
        session.commit()
    with db.session() as session:  # in the session's transaction: committed with it
        assert session.scalar(select(func.count()).select_from(RateBucket)) == 1


def test_a_failure_is_sqlalchemys_error_and_what_follows_it_does_not_run(
    db: Database, sequence: str
) -> None:
    with db.session() as session:
        with pytest.raises(DataError) as failure:
            raw_execute(
                session,
                [
                    (_INSERT, {"subject": "b"}),
                    ("SELECT 1 / 0", None),
                    (f"SELECT nextval('{sequence}')", None),
                ],
            )
        assert getattr(failure.value.orig, "sqlstate", None) == "22012"  # division by zero
        session.rollback()
        assert session.scalar(text(f"SELECT nextval('{sequence}')")) == 1  # never taken before
        assert session.scalar(select(func.count()).select_from(RateBucket)) == 0


def test_a_lost_connection_is_invalidated_and_the_session_closes_cleanly(db: Database) -> None:
    """As for SQLAlchemy's own statements: ending the transaction does not try the dead
    connection again (a restart under a request answered 500 from the session's close)."""
    with db.session() as session:
        pid = session.scalar(select(func.pg_backend_pid()))
        admin = create_engine(db.url, poolclass=NullPool)
        try:
            with admin.connect() as connection:
                connection.execute(select(func.pg_terminate_backend(pid, 10_000)))
        finally:
            admin.dispose()
        with pytest.raises(OperationalError) as failure:
            raw_execute(session, [(_COUNT, None)])
        assert failure.value.connection_invalidated
    with db.session() as session:  # and the pool serves again
        assert session.scalar(select(func.count()).select_from(RateBucket)) == 0


def test_a_multi_command_statement_gives_each_commands_rows_in_one_round_trip(
    db: Database, sequence: str
) -> None:
    """(Measured in a transaction already begun: psycopg's BEGIN is a round trip of its own.)"""
    multi = (
        "SELECT count(*) FROM rate_buckets;"
        " INSERT INTO rate_buckets VALUES ('test', 'm', 1, 0, 0);"
        " SELECT count(*) FROM rate_buckets"
    )
    with db.session() as session, tempfile.TemporaryFile("w+") as trace:
        raw_execute(session, [(_INSERT, {"subject": "begun"})])
        driver = session.connection().connection.driver_connection
        assert driver is not None
        driver.pgconn.trace(trace.fileno())
        driver.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            assert raw_execute(session, [(multi, None)]) == [[(1,)], [], [(2,)]]
        finally:
            driver.pgconn.untrace()
        trace.seek(0)
        sent = [line.split("\t")[2].strip() for line in trace if line.startswith("F")]
        assert sent == ["Query"]  # one message, one answer
        with pytest.raises(DataError):  # a failing command stops the rest
            raw_execute(session, [(f"SELECT 1 / 0; SELECT nextval('{sequence}')", None)])
        session.rollback()
        assert session.scalar(text(f"SELECT nextval('{sequence}')")) == 1
