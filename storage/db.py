"""Database engine, sessions and schema migrations (SQLite embedded, PostgreSQL in production)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class Database:
    """One engine and its session factory; the only place that knows the dialect's quirks."""

    def __init__(
        self, url: str, *, echo: bool = False, connections: tuple[int, int] = (10, 20)
    ) -> None:
        """``connections``: on PostgreSQL, how many the pool keeps, and how many more it may
        open at once (closed as they come back)."""
        self.url = url
        self.engine: Engine = _create_engine(url, echo=echo, connections=connections)
        self.sessionmaker: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that rolls back anything not committed when the block ends."""
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
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=kept, max_overflow=spare)


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
