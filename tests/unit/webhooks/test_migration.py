"""Migration 0013 adds the failure budget's columns on SQLite and PostgreSQL, keeps an
endpoint an admin had disabled as disabled by hand, and downgrades cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, text

from storage.db import Database
from tests.fixtures.database import throwaway_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'escrow.db'}"
        return
    with throwaway_database("escrow_migration") as url:
        yield url


def _endpoint(conn: Connection, endpoint_id: str, status: str, at: datetime) -> None:
    conn.execute(
        text(
            "INSERT INTO webhook_endpoints (id, org_id, url, description, events, status,"
            " created_by, created_at, updated_at) VALUES (:id, 'o1', 'https://example.com/h',"
            " '', '[]', :status, 'p1', :at, :at)"
        ),
        {"id": endpoint_id, "status": status, "at": at},
    )


def test_endpoints_gain_a_failure_budget_and_keep_their_state(database_url: str) -> None:
    database = Database(database_url)
    database.upgrade("0012")
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO organizations (id, slug, name, tier, status, created_at, updated_at)"
                " VALUES ('o1', 'acme', 'Acme', 'core', 'active', :at, :at)"
            ),
            {"at": at},
        )
        _endpoint(conn, "e1", "active", at)
        _endpoint(conn, "e2", "disabled", at)
    database.upgrade()
    with database.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, status, disabled_reason, disabled_at IS NOT NULL, consecutive_dead"
                " FROM webhook_endpoints ORDER BY id"
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        ("e1", "active", None, False, 0),
        ("e2", "disabled", "manual", True, 0),
    ]
    command.downgrade(database.alembic_config(), "0012")
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM webhook_endpoints")).scalar() == 2
    database.upgrade()
    assert database.schema_is_current()
    database.dispose()
