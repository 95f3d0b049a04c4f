"""The log's head row: its lock, the compact range appends extend, and an append's writes.

Everything between taking the lock and committing is a database round trip that every
other append waits for, so an append makes as few as the dialect allows: one to lock the
head and read its compact range, one for the event row, and on PostgreSQL one statement for
all the rest (organizations, sensitive plaintexts, tree nodes, the new head). SQLite
serializes writers for the whole transaction anyway (BEGIN IMMEDIATE), so there it uses
plain statements.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from crypto import CompactRange, NodeId
from escrow.audit.tree import AuditIntegrityError
from storage.models import AuditEventOrg, AuditHead, AuditNode, AuditSecret

_HASH = 32

# Data-modifying CTEs: one round trip. Foreign keys to audit_events are checked at the end
# of the statement, after the event row (inserted just before) is already there.
_APPEND_PG = text(
    """
    WITH orgs AS (
        INSERT INTO audit_event_orgs (seq, org_id)
        SELECT :seq, org_id FROM unnest(CAST(:orgs AS varchar[])) AS org_id
    ), secrets AS (
        INSERT INTO audit_secrets (seq, name, digest, value)
        SELECT :seq, name, digest, value FROM unnest(
            CAST(:names AS varchar[]), CAST(:digests AS varchar[]), CAST(:plain AS text[])
        ) AS s(name, digest, value)
    ), nodes AS (
        INSERT INTO audit_nodes (level, idx, hash)
        SELECT level, idx, hash FROM unnest(
            CAST(:levels AS smallint[]), CAST(:idxs AS bigint[]), CAST(:hashes AS bytea[])
        ) AS n(level, idx, hash)
    )
    UPDATE audit_head SET size = :size, compact = :compact WHERE id = 1
    """
)


def lock_head(session: Session) -> CompactRange:
    """Takes the log's lock for the rest of the transaction; returns the tree to extend.

    Fails closed: AuditIntegrityError if the stored compact range does not fit the size.
    """
    size, compact = session.execute(
        select(AuditHead.size, AuditHead.compact).where(AuditHead.id == 1).with_for_update()
    ).one()
    raw = bytes(compact or b"")
    if len(raw) != _HASH * int(size).bit_count():
        raise AuditIntegrityError(f"audit_head's compact range does not fit size {size}")
    return CompactRange(int(size), [raw[i : i + _HASH] for i in range(0, len(raw), _HASH)])


def write_append(
    session: Session,
    seq: int,
    orgs: Sequence[str],
    secrets: Sequence[tuple[str, str, str]],
    completed: Sequence[tuple[NodeId, bytes]],
    tree: CompactRange,
) -> None:
    """Writes what an append adds besides its event row, and moves the head to ``tree``."""
    head = {"size": tree.size, "compact": b"".join(tree.roots) or None}
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            _APPEND_PG,
            {
                "seq": seq,
                "orgs": list(orgs),
                "names": [name for name, _, _ in secrets],
                "digests": [digest for _, digest, _ in secrets],
                "plain": [value for _, _, value in secrets],
                "levels": [node.level for node, _ in completed],
                "idxs": [node.index for node, _ in completed],
                "hashes": [digest for _, digest in completed],
                **head,
            },
        )
        return
    if orgs:
        session.execute(insert(AuditEventOrg), [{"seq": seq, "org_id": org} for org in orgs])
    if secrets:
        session.execute(
            insert(AuditSecret),
            [{"seq": seq, "name": n, "digest": d, "value": v} for n, d, v in secrets],
        )
    session.execute(
        insert(AuditNode),
        [{"level": node.level, "idx": node.index, "hash": digest} for node, digest in completed],
    )
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(**head))
