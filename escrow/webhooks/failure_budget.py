"""The failure budget: an endpoint whose deliveries keep dying is disabled automatically.

Each dead delivery counts against its endpoint, a delivered one clears the count; once
``ESCROW_WEBHOOK_DISABLE_AFTER_DEAD`` deliveries in a row have died (0: never) the endpoint
is ``disabled`` with reason ``failure_budget``, its queued deliveries wait, the change is
audited as ``webhook.disable`` and the organization's other endpoints get a
``webhook.disabled`` event (events.py). An admin enables it again (``webhook.enable``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from escrow.audit.log import AuditLog, AuditRecord
from escrow.context import RequestContext
from escrow.settings import WebhookSettings
from escrow.webhooks.events import DISABLE_ACTION
from storage.models import WebhookEndpoint

FAILURE_BUDGET = "failure_budget"
_CONTEXT = RequestContext(request_id="webhook-failure-budget")


def count_result(
    session: Session,
    audit: AuditLog,
    policy: WebhookSettings,
    endpoint_id: str,
    result: str,
    now: datetime,
) -> bool:
    """Counts a delivery's final result against its endpoint, in the caller's transaction;
    True when this spent the budget and disabled the endpoint (the caller holds its lock)."""
    if result == "delivered":
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.consecutive_dead != 0)
            .values(consecutive_dead=0)
        )
        return False
    if result != "dead":
        return False
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:  # pragma: no cover - deliveries reference their endpoint
        return False
    endpoint.consecutive_dead += 1
    budget = policy.disable_after_dead
    if budget == 0 or endpoint.consecutive_dead < budget or endpoint.status != "active":
        return False
    endpoint.status, endpoint.disabled_reason = "disabled", FAILURE_BUDGET
    endpoint.disabled_at = endpoint.updated_at = now
    audit.append(
        session,
        _CONTEXT,
        AuditRecord(
            DISABLE_ACTION,
            "success",
            "webhook_endpoint",
            endpoint.id,
            reason=FAILURE_BUDGET,
            org_ids=(endpoint.org_id,),
            details={"consecutive_dead": endpoint.consecutive_dead, "budget": budget},
        ),
    )
    return True
