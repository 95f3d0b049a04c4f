"""Database engine, sessions and schema migrations (SQLite embedded, PostgreSQL in production)."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import select
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class ReadCommittingSession(Session):
    """A session that ends a transaction which only read with COMMIT, not ROLLBACK, when it
    closes.

    The two are the same to the database for a transaction that wrote nothing, but psycopg
    forgets every statement it prepared on a connection at each ROLLBACK (and sends
    DEALLOCATE ALL): a pool whose connections are rolled back after every read keeps no
    prepared statement, so the server parses and plans every query of every request.

    Fails closed: anything that may have written ends with ROLLBACK as before, and so does a
    transaction whose connection was lost. Writing, as seen here: a flush, a statement
    executed through the session that is not a SELECT (``text()`` included), or changes
    still pending. A statement executed on ``session.connection()`` directly is not seen:
    write through ``execute``. (A read that failed leaves nothing to keep: PostgreSQL
    answers the COMMIT of a failed transaction by rolling it back.)"""

    wrote = False
    used: Connection | None = None  # the transaction's connection, once it has one

    def close(self) -> None:
        try:
            if self.only_read():
                self.commit()
        finally:
            super().close()

    def only_read(self) -> bool:
        """Whether the transaction under way (if any) has written nothing, as seen here."""
        transaction = self.get_transaction()
        return (
            transaction is not None
            and transaction.is_active
            and not self.wrote
            and not (self.new or self.dirty or self.deleted)
            and (self.used is None or not self.used.invalidated)  # lost with the server
        )


def discard_writes(session: Session) -> None:
    """Keeps nothing the session's transaction wrote, for a use case that abandons its work
    and goes on in the same session (a denial recording its audit event): ROLLBACK when it
    may have written (see ``ReadCommittingSession``). A transaction that only read has
    nothing to undo: it goes on, and what follows commits with it (no COMMIT and BEGIN in
    between)."""
    if not (isinstance(session, ReadCommittingSession) and session.only_read()):
        session.rollback()


def raw_execute(
    session: Session,
    statements: Sequence[tuple[str, Mapping[str, Any] | None]],
    *,
    alone: bool = False,
) -> list[list[tuple[Any, ...]]]:
    """Runs ``statements`` (SQL with psycopg's ``%(name)s`` parameters, and their values) in
    order in the session's transaction, on psycopg directly (PostgreSQL); the rows of each
    (none for a statement that returns none).

    They bypass SQLAlchemy's execution events and its per-statement work (about half the
    CPU of a small statement), which is the point: keep them to hot paths. A failure is
    raised as SQLAlchemy's error for it (its ``orig`` is psycopg's, with the SQLSTATE); the
    statements after it do not run, and the transaction must roll back. A statement of
    several SQL commands (without parameters: PostgreSQL's simple protocol) runs them in
    one round trip and gives the rows of each. Statements other than SELECTs count as
    writes (see ``ReadCommittingSession``).

    ``alone``: a single write that ends its unit of work (the caller commits next, having
    written nothing else). If the transaction has not begun (it only read), the statement
    commits on its own: no BEGIN, and the COMMIT that follows has nothing to do.
    """
    if isinstance(session, ReadCommittingSession) and any(
        sql.lstrip()[:6].upper() != "SELECT" for sql, _ in statements
    ):
        session.wrote = True
    connection = session.connection()
    driver = cast(psycopg.Connection[Any], connection.connection.driver_connection)
    # The transaction is begun here, for all of them (_LazyTransactionCursor's rule). Alone,
    # the statement joins the transaction already begun, or else commits on its own.
    if not (alone and len(statements) == 1):
        _begin_for(driver, (sql for sql, _ in statements))
    results: list[list[tuple[Any, ...]]] = []
    for sql, params in statements:
        try:
            with psycopg.Cursor(driver) as cursor:  # psycopg's own: it begins nothing
                cursor.execute(sql, params)
                results.append(_rows(cursor))
                while cursor.nextset():  # the next command of a multi-command statement
                    results.append(_rows(cursor))
        except psycopg.Error as failure:
            # As SQLAlchemy does for its own statements: a lost connection is invalidated,
            # so that ending the transaction does not try it again (the pool replaces it).
            lost = connection.dialect.is_disconnect(cast(Any, failure), connection.connection, None)
            if lost:
                connection.invalidate(failure)
            raise DBAPIError.instance(
                sql, None, failure, psycopg.Error, connection_invalidated=lost
            ) from failure
    return results


def _rows(cursor: psycopg.Cursor[Any]) -> list[tuple[Any, ...]]:
    return cursor.fetchall() if cursor.description is not None else []


@event.listens_for(ReadCommittingSession, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if not state.is_select:
        cast(ReadCommittingSession, state.session).wrote = True


@event.listens_for(ReadCommittingSession, "after_flush")
def _note_flush(session: Session, _context: object) -> None:
    cast(ReadCommittingSession, session).wrote = True


@event.listens_for(ReadCommittingSession, "after_begin")
def _note_connection(
    session: Session, _transaction: SessionTransaction, connection: Connection
) -> None:
    cast(ReadCommittingSession, session).used = connection


@event.listens_for(ReadCommittingSession, "after_transaction_end")
def _forget_transaction(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        ending = cast(ReadCommittingSession, session)
        ending.wrote = False
        ending.used = None


class Database:
    """One engine and its session factory; the only place that knows the dialect's quirks."""

    def __init__(
        self, url: str, *, echo: bool = False, connections: tuple[int, int] = (10, 20)
    ) -> None:
        """``connections``: on PostgreSQL, how many the pool keeps, and how many more it may
        open at once (closed as they come back)."""
        self.url = url
        self.engine: Engine = _create_engine(url, echo=echo, connections=connections)
        self.sessionmaker: sessionmaker[Session] = sessionmaker(
            self.engine, class_=ReadCommittingSession, expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that rolls back anything it wrote and did not commit when the block
        ends (a transaction that only read ends with COMMIT: ``ReadCommittingSession``)."""
        with self.sessionmaker() as session:
            yield session

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def alembic_config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        config.attributes["engine"] = self.engine
        return config

    def upgrade(self, revision: str = "head") -> None:
        command.upgrade(self.alembic_config(), revision)

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(self.alembic_config()).get_current_head()

    def schema_is_current(self) -> bool:
        return self.current_revision() == self.head_revision()

    def dispose(self) -> None:
        self.engine.dispose()

    def purge_write_ahead_log(self) -> bool:
        """Moves every committed change into the database file and empties SQLite's WAL.

        With ``secure_delete`` on, what a committed UPDATE or DELETE overwrote (a shredded
        key) is then gone from disk: the WAL held earlier copies of its pages. Answers False
        when readers kept the WAL from being emptied within the busy timeout. PostgreSQL: a
        no-op answering True (its storage is the operator's to scrub).
        """
        if not self.is_sqlite:
            return True
        # The raw connection runs in autocommit: no BEGIN IMMEDIATE around the checkpoint.
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            busy, _frames, _moved = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            cursor.close()
        finally:
            raw.close()
        return not busy


def _create_engine(url: str, *, echo: bool, connections: tuple[int, int]) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1].split("?", 1)[0] if "///" in url else ""
        if path and path != ":memory:" and not path.startswith("file:"):
            _private_sqlite_file(Path(path))
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take the write lock up front
        # so that read-then-write transactions cannot deadlock each other.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    kept, spare = connections
    # LIFO: the busiest connections are reused first, so their prepared statements are
    # warm (psycopg prepares a query at its fifth use on a connection), and the idle ones
    # are left for the server to time out.
    engine = create_engine(url, echo=echo, pool_size=kept, max_overflow=spare, pool_use_lifo=True)
    event.listen(engine, "connect", _begin_lazily)
    event.listen(engine, "checkout", _refuse_dead_connection)
    event.listen(engine, "checkout", _begin_lazily_again)
    return engine


class _LazyTransactionCursor(psycopg.Cursor[Any]):
    """Opens the connection's transaction at its first statement that needs one.

    A transaction that only ever runs plain SELECTs gets no BEGIN and no COMMIT: each
    SELECT runs on its own (autocommit), as it would see the same rows inside a READ
    COMMITTED transaction, where every statement takes a fresh snapshot. Two round trips
    of three for a request that only reads. Anything else (a write, a DDL, SET, SAVEPOINT,
    a SELECT that locks rows) turns autocommit off first, so psycopg sends BEGIN before it:
    from there on the transaction is the caller's, as before, until it commits or rolls
    back. Fails closed: a statement that is not plainly a read opens the transaction.
    A SELECT is taken to write nothing: one calling a function with side effects (none
    here) would run in autocommit, so write such a call as anything but a plain SELECT.
    """

    def execute(self, query: Any, params: Any = None, **options: Any) -> Any:
        _begin_for(self.connection, (query,))
        return super().execute(query, params, **options)

    def executemany(self, query: Any, params_seq: Any, **options: Any) -> None:
        _begin_for(self.connection, (query,))
        super().executemany(query, params_seq, **options)


def _begin_for(connection: psycopg.Connection[Any], queries: Iterable[object]) -> None:
    """Turns autocommit off if one of ``queries`` needs a transaction: psycopg then sends
    BEGIN before the next statement."""
    if connection.autocommit and any(_needs_transaction(query) for query in queries):
        connection.autocommit = False


_LOCKS_ROWS = re.compile(r"\bFOR\s+(?:UPDATE|NO\s+KEY\s+UPDATE|SHARE|KEY\s+SHARE)\b", re.I)


def _needs_transaction(query: object) -> bool:
    """Anything but one plain SELECT (one that takes no row lock) needs a transaction; a
    query that is not text (a psycopg ``sql.Composed``) is not vouched for."""
    return not isinstance(query, str) or _text_needs_transaction(query)


@functools.lru_cache(maxsize=4096)
def _text_needs_transaction(query: str) -> bool:
    plain = query.lstrip()[:7].upper() == "SELECT " and ";" not in query  # one command
    return not plain or _LOCKS_ROWS.search(query) is not None


def _begin_lazily(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.cursor_factory = _LazyTransactionCursor
    dbapi_connection.autocommit = True


def _begin_lazily_again(dbapi_connection: Any, _record: object, _proxy: object) -> None:
    """A connection back from the pool is idle (its transaction ended, or it had none)."""
    if not dbapi_connection.autocommit:
        dbapi_connection.autocommit = True


def _refuse_dead_connection(dbapi_connection: Any, _record: object, _proxy: object) -> None:
    """A pessimistic disconnect check at checkout without pre-ping's round trip.

    A pooled connection is idle: the server sends it nothing unless it ends it (a restart,
    a terminated backend, an idle timeout), when it writes its notice and closes the socket.
    So a connection that is closed, or has anything to read, is refused: the pool opens a
    new one in its place (DisconnectionError), and no request spends its statement on it.
    A live connection costs a poll(2) of its socket instead of a round trip.
    """
    if dbapi_connection.closed:
        raise DisconnectionError("the connection is closed")
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        raise DisconnectionError("the server ended the idle connection")


def _private_sqlite_file(path: Path) -> None:
    """Create the database file owner-only (0600) before SQLite opens it.

    It holds wrapped keys and audit secrets; SQLite gives its -wal and -shm files the
    database file's permissions, so they are 0600 too. An existing file is tightened.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(companion, 0o600)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let the "begin" listener issue BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted and overwritten content is zeroed in place, so that shredded keys do not
    # linger in free space (purge_write_ahead_log then empties the WAL).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
