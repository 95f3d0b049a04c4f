"""Finding audit events: filters and the organization scope, all in SQL, keyset-paginated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from storage.models import AuditEvent, AuditEventOrg, AuditNode


@dataclass(frozen=True)
class EventFilter:
    """All optional; ``since`` is inclusive, ``until`` and ``below`` (an index) exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    actor_id: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    outcome: str | None = None
    below: int | None = None


@dataclass(frozen=True)
class FoundEvent:
    seq: int
    entry: str
    leaf_hash: bytes | None  # None only if the tree lacks the leaf (a damaged database)


def find_events(
    session: Session, where: EventFilter, org_id: str | None, after: int | None, limit: int
) -> list[FoundEvent]:
    """Events in index order after ``after``; only those touching ``org_id`` if given."""
    query = (
        select(AuditEvent.seq, AuditEvent.entry, AuditNode.hash)
        .outerjoin(AuditNode, and_(AuditNode.level == 0, AuditNode.idx == AuditEvent.seq))
        .order_by(AuditEvent.seq)
        .limit(limit)
    )
    if org_id is not None:
        touching = select(AuditEventOrg.seq).where(AuditEventOrg.org_id == org_id)
        query = query.where(AuditEvent.seq.in_(touching))
    if after is not None:
        query = query.where(AuditEvent.seq > after)
    if where.below is not None:
        query = query.where(AuditEvent.seq < where.below)
    conditions = [
        (AuditEvent.actor_id, where.actor_id),
        (AuditEvent.action, where.action),
        (AuditEvent.resource_type, where.resource_type),
        (AuditEvent.resource_id, where.resource_id),
        (AuditEvent.outcome, where.outcome),
    ]
    for column, value in conditions:
        if value is not None:
            query = query.where(column == value)
    if where.since is not None:
        query = query.where(AuditEvent.occurred_at >= where.since)
    if where.until is not None:
        query = query.where(AuditEvent.occurred_at < where.until)
    return [
        FoundEvent(int(seq), entry, None if digest is None else bytes(digest))
        for seq, entry, digest in session.execute(query)
    ]


def events_in_range(session: Session, first: int, last: int) -> list[FoundEvent]:
    """The events with indexes ``first`` to ``last`` (inclusive), in index order.

    Two range reads on primary keys: whatever plan the planner picks without statistics,
    it reads at most ``last - first + 1`` rows of each table.
    """
    rows = session.execute(
        select(AuditEvent.seq, AuditEvent.entry)
        .where(AuditEvent.seq >= first, AuditEvent.seq <= last)
        .order_by(AuditEvent.seq)
    ).all()
    leaves = _leaf_hashes(
        session, and_(AuditNode.level == 0, AuditNode.idx >= first, AuditNode.idx <= last)
    )
    return [FoundEvent(int(seq), entry, leaves.get(int(seq))) for seq, entry in rows]


def events_by_seq(session: Session, seqs: Sequence[int]) -> list[FoundEvent]:
    """The events with these indexes, in index order (looked up by primary key)."""
    if not seqs:
        return []
    rows = session.execute(
        select(AuditEvent.seq, AuditEvent.entry)
        .where(AuditEvent.seq.in_(seqs))
        .order_by(AuditEvent.seq)
    ).all()
    leaves = _leaf_hashes(session, and_(AuditNode.level == 0, AuditNode.idx.in_(seqs)))
    return [FoundEvent(int(seq), entry, leaves.get(int(seq))) for seq, entry in rows]


def org_event_seqs(session: Session, org_id: str, after: int, last: int, limit: int) -> list[int]:
    """Up to ``limit`` indexes of events touching ``org_id`` in ``(after, last]``, in order:
    one range of the ``(org_id, seq)`` index."""
    return [
        int(seq)
        for seq in session.scalars(
            select(AuditEventOrg.seq)
            .where(
                AuditEventOrg.org_id == org_id,
                AuditEventOrg.seq > after,
                AuditEventOrg.seq <= last,
            )
            .order_by(AuditEventOrg.seq)
            .limit(limit)
        )
    ]


def _leaf_hashes(session: Session, where: ColumnElement[bool]) -> dict[int, bytes]:
    return {
        int(idx): bytes(digest)
        for idx, digest in session.execute(select(AuditNode.idx, AuditNode.hash).where(where))
    }
