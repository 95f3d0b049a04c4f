"""``agreement.expiring``: once per released agreement, when it is within 7 days of expiry.

The delivery job records an ``agreement.expiring`` audit event for each such agreement
whose owner or beneficiary has an active endpoint (so deployments without webhooks get no
extra events); the outbox listener turns it into deliveries like any other event. A row in
``webhook_notices`` (primary key: kind, agreement) is inserted in the same transaction, so
two replicas running the job at once emit it once: the second insert fails and rolls back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.exc import IntegrityError

from escrow.audit.log import AuditLog, AuditRecord
from escrow.clock import Clock
from escrow.context import RequestContext
from escrow.webhooks.events import EXPIRING_ACTION, EXPIRY_NOTICE
from storage.db import Database
from storage.models import Agreement, WebhookEndpoint, WebhookNotice

BATCH = 100


def emit_expiry_notices(db: Database, audit: AuditLog, clock: Clock) -> int:
    """Records the due ``agreement.expiring`` events; returns how many this call emitted."""
    now = clock.now()
    ctx = RequestContext(request_id="webhook-expiry-notices")
    with db.session() as session:
        due = session.execute(_due(now)).all()
    return sum(_emit(db, audit, ctx, now, *agreement) for agreement in due)


def _due(now: datetime) -> Select[tuple[str, str, str]]:
    """Released agreements expiring within the notice period, listened to, not yet noticed."""
    listened = exists().where(
        WebhookEndpoint.status == "active",
        or_(
            WebhookEndpoint.org_id == Agreement.owner_org_id,
            WebhookEndpoint.org_id == Agreement.beneficiary_org_id,
        ),
    )
    noticed = exists().where(
        WebhookNotice.kind == EXPIRING_ACTION, WebhookNotice.subject_id == Agreement.id
    )
    return (
        select(Agreement.id, Agreement.owner_org_id, Agreement.beneficiary_org_id)
        .where(
            Agreement.state == "released",
            Agreement.expires_at > now,
            Agreement.expires_at <= now + EXPIRY_NOTICE,
            listened,
            ~noticed,
        )
        .order_by(Agreement.expires_at, Agreement.id)
        .limit(BATCH)
    )


def _emit(
    db: Database,
    audit: AuditLog,
    ctx: RequestContext,
    now: datetime,
    agreement_id: str,
    owner_org_id: str,
    beneficiary_org_id: str,
) -> bool:
    """One notice and its event, in one transaction; False if another replica emitted it."""
    with db.session() as session:
        session.add(WebhookNotice(kind=EXPIRING_ACTION, subject_id=agreement_id, created_at=now))
        try:
            session.flush()
        except IntegrityError:  # another replica emitted it first
            session.rollback()
            return False
        agreement = session.get(Agreement, agreement_id)
        expires_at = agreement.expires_at if agreement is not None else None
        audit.append(
            session,
            ctx,
            AuditRecord(
                EXPIRING_ACTION,
                "success",
                "agreement",
                agreement_id,
                org_ids=(owner_org_id, beneficiary_org_id),
                details={"expires_at": expires_at.isoformat() if expires_at else None},
            ),
        )
        session.commit()
    return True
