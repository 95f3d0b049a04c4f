"""Finding audit events: filters and the organization scope, all in SQL, keyset-paginated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select
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
