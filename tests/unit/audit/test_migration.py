"""Migration 0003 builds the Merkle tree over the events recorded before it existed, and
appends extend it (here on SQLite; PostgreSQL is what the API tests run on)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from crypto import canonical_json
from escrow.audit.log import AuditLog, AuditRecord
from escrow.audit.tree import MerkleTree
from escrow.clock import SystemClock
from escrow.context import RequestContext
from storage.db import Database
from tests.unit.audit.rfc9162 import leaf, mth


def _database_with_v1_events(path: Path, seqs: list[int]) -> tuple[Database, list[bytes]]:
    database = Database(f"sqlite:///{path}")
    database.upgrade("0002")
    entries = [canonical_json({"v": 1, "seq": seq, "action": "org.create"}) for seq in seqs]
    with database.engine.begin() as conn:
        for seq, entry in zip(seqs, entries, strict=True):
            conn.execute(
                text(
                    "INSERT INTO audit_events (seq, occurred_at, request_id, action,"
                    " resource_type, outcome, entry) VALUES (:seq, :at, 'r', 'org.create',"
                    " 'organization', 'success', :entry)"
                ),
                {"seq": seq, "at": datetime.now(UTC), "entry": entry.decode()},
            )
        conn.execute(text("UPDATE audit_head SET size = :n WHERE id = 1"), {"n": len(seqs)})
    return database, entries


def test_existing_events_become_the_first_leaves_and_appends_extend_them(tmp_path: Path) -> None:
    database, entries = _database_with_v1_events(tmp_path / "old.db", list(range(11)))
    database.upgrade()
    log = AuditLog(SystemClock(), lambda value: value.hex())
    for n in range(6):
        with database.session() as session:
            ctx = RequestContext(f"req-{n}", client_ip="192.0.2.1")
            assert log.append(session, ctx, AuditRecord("x.y", "success", "t", org_ids=("o",))) == (
                11 + n
            )
            session.commit()
    with database.session() as session:
        stored = session.scalars(text("SELECT entry FROM audit_events ORDER BY seq")).all()
        leaves = [leaf(entry.encode()) for entry in stored]
        tree = MerkleTree(session)
        assert tree.size() == 17 and leaves[:11] == [leaf(entry) for entry in entries]
        assert tree.root(17) == mth(leaves) and tree.root(6) == mth(leaves[:6])
    database.dispose()


def test_a_gap_in_the_old_events_stops_the_migration(tmp_path: Path) -> None:
    database, _ = _database_with_v1_events(tmp_path / "gap.db", [0, 1, 3])
    with pytest.raises(RuntimeError, match="gap"):
        database.upgrade()
    database.dispose()
