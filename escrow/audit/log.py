"""Appending audit events: one gap-free total order, in the caller's transaction.

The single ``audit_head`` row is the log's lock: ``UPDATE ... RETURNING`` takes it for the
rest of the transaction, so callers append last, right before they commit, to keep the
lock scope minimal. A rollback undoes the bump, so the sequence never has gaps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import update
from sqlalchemy.orm import Session

from crypto import canonical_json
from escrow.clock import Clock
from escrow.context import RequestContext
from storage.models import AuditEvent, AuditEventOrg, AuditHead

Outcome = Literal["success", "denied", "failed"]
MAX_ENTRY_BYTES = 64 * 1024


@dataclass(frozen=True)
class AuditRecord:
    """What happened, to what, and with which result. Identifiers only: no secrets."""

    action: str
    outcome: Outcome
    resource_type: str
    resource_id: str | None = None
    reason: str | None = None
    org_ids: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    policy_version: str | None = None


class AuditLog:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def append(self, session: Session, ctx: RequestContext, record: AuditRecord) -> int:
        """Fails closed: the event is written in the caller's transaction or the caller fails."""
        seq = _next_sequence(session)
        actor = ctx.actor
        when = self._clock.now()
        orgs = sorted({*record.org_ids, *([actor.org_id] if actor else [])})
        entry = canonical_json(
            {
                "v": 1,
                "seq": seq,
                "time": when.isoformat(timespec="microseconds"),
                "request_id": ctx.request_id,
                "actor": {"id": actor.id, "org": actor.org_id} if actor else None,
                "action": record.action,
                "resource": {"type": record.resource_type, "id": record.resource_id},
                "outcome": record.outcome,
                "reason": record.reason,
                "orgs": orgs,
                "policy": record.policy_version,
                "details": record.details,
            }
        )
        if len(entry) > MAX_ENTRY_BYTES:
            raise ValueError(f"audit entry of {len(entry)} bytes exceeds {MAX_ENTRY_BYTES}")
        session.add(
            AuditEvent(
                seq=seq,
                occurred_at=when,
                request_id=ctx.request_id,
                actor_id=actor.id if actor else None,
                actor_org_id=actor.org_id if actor else None,
                action=record.action,
                resource_type=record.resource_type,
                resource_id=record.resource_id,
                outcome=record.outcome,
                reason=record.reason,
                policy_version=record.policy_version,
                entry=entry.decode("utf-8"),
            )
        )
        session.flush()
        session.add_all(AuditEventOrg(seq=seq, org_id=org_id) for org_id in orgs)
        session.flush()
        return seq


def _next_sequence(session: Session) -> int:
    bumped = session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(size=AuditHead.size + 1)
        .returning(AuditHead.size)
    ).scalar_one()
    return int(bumped) - 1
