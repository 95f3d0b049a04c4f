"""Retention: finished deliveries are deleted once they are older than the retention period.

A delivery that is ``delivered``, ``dead`` or ``cancelled`` and was last changed more than
``ESCROW_WEBHOOK_RETENTION_DAYS`` ago is deleted with its attempts by the periodic delivery
job, a bounded batch per transaction; pending deliveries are never touched. Each batch is
audited as ``webhook.purge`` with how many rows went and the cut-off, and every attempt
stays in the audit log as its ``webhook.deliver`` event.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from escrow.audit.log import AuditLog, AuditRecord
from escrow.clock import Clock
from escrow.context import RequestContext
from escrow.settings import WebhookSettings
from storage.db import Database
from storage.models import WebhookAttempt, WebhookDelivery

FINISHED = ("delivered", "dead", "cancelled")
BATCH = 500
MAX_BATCHES = 20  # per run; what is left goes in the next run
_CONTEXT = RequestContext(request_id="webhook-retention")


def purge_finished(db: Database, audit: AuditLog, clock: Clock, policy: WebhookSettings) -> int:
    """Deletes finished deliveries past the retention period; returns how many."""
    cutoff = clock.now() - timedelta(days=policy.retention_days)
    purged = 0
    for _ in range(MAX_BATCHES):
        with db.session() as session:
            ids = list(
                session.scalars(
                    select(WebhookDelivery.id)
                    .where(
                        WebhookDelivery.status.in_(FINISHED), WebhookDelivery.updated_at < cutoff
                    )
                    .order_by(WebhookDelivery.updated_at)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                break
            session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
            session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
            audit.append(
                session,
                _CONTEXT,
                AuditRecord(
                    "webhook.purge",
                    "success",
                    "webhook_delivery",
                    details={"deleted": len(ids), "older_than": cutoff.isoformat()},
                ),
            )
            session.commit()
        purged += len(ids)
        if len(ids) < BATCH:
            break
    return purged
