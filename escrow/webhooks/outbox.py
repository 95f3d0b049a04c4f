"""The durable outbox: deliveries written in the transaction of the change they report.

``WebhookOutbox`` is an audit listener (``AuditLog.add_listener``): it runs inside
``AuditLog.append``, in the caller's transaction, so an event's deliveries commit with the
change and its audit event, or not at all, and survive any restart once committed. Each
delivery cites its event's index, so the actions that may give rise to one
(``events.is_source``, all rare state changes) are numbered as they are recorded: they hold
the audit log's head, and the outbox does as little as it can under it (one small read
when no organization has an endpoint, a few more when one does).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from crypto import canonical_json
from escrow.audit.log import AuditRecord
from escrow.clock import Clock
from escrow.context import RequestContext
from escrow.ids import IdFactory
from escrow.orgs.queries import slugs_of
from escrow.webhooks.events import Occurrence, derive, is_source
from storage.models import AuditEvent, Organization, WebhookDelivery, WebhookEndpoint


class WebhookOutbox:
    """Turns audit events into pending deliveries for the endpoints that subscribe to them."""

    def __init__(self, clock: Clock, new_id: IdFactory) -> None:
        self.clock = clock
        self.new_id = new_id

    def __call__(
        self, session: Session, _ctx: RequestContext, record: AuditRecord, seq: int | None
    ) -> None:
        if not is_source(record) or not _any_endpoint(session):
            return
        if seq is None:  # pragma: no cover - sources are numbered (registered needs_index)
            raise RuntimeError(f"{record.action} was recorded without its index")
        now = self.clock.now()
        occurrence = derive(session, record, now)
        if occurrence is None or not occurrence.recipients:
            return
        endpoints = _subscribers(session, occurrence)
        if not endpoints:
            return
        event = session.get(AuditEvent, seq)  # in the identity map: no round trip
        occurred_at = event.occurred_at if event is not None else now
        slugs = slugs_of(session, {e.org_id for e in endpoints})
        event_ids: dict[str, str] = {}
        for endpoint in endpoints:
            org_id = endpoint.org_id
            if org_id not in event_ids:  # one event per organization, shared by its endpoints
                event_ids[org_id] = self.new_id()
            payload = {
                "id": event_ids[org_id],
                "type": occurrence.type,
                "occurred_at": occurred_at.isoformat(),
                "org": slugs.get(org_id),
                "audit_seq": seq,
                "data": {**occurrence.data, **occurrence.recipients[org_id]},
            }
            session.add(self.delivery(endpoint, event_ids[org_id], occurrence.type, payload, seq))

    def delivery(
        self,
        endpoint: WebhookEndpoint,
        event_id: str,
        event_type: str,
        payload: dict[str, Any] | str,
        audit_seq: int | None,
        redelivery_of: str | None = None,
    ) -> WebhookDelivery:
        """A pending delivery, due now; ``payload`` is the event or an earlier delivery's body."""
        now = self.clock.now()
        body = payload if isinstance(payload, str) else canonical_json(payload).decode("utf-8")
        return WebhookDelivery(
            id=self.new_id(),
            endpoint_id=endpoint.id,
            org_id=endpoint.org_id,
            event_id=event_id,
            event_type=event_type,
            payload=body,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            audit_seq=audit_seq,
            redelivery_of=redelivery_of,
            created_at=now,
            updated_at=now,
        )


# Asked at every numbered append: a Core statement on the table (the ORM's per-statement
# work costs more than the lookup).
_ENDPOINTS = cast(Table, WebhookEndpoint.__table__)
_AN_ACTIVE_ENDPOINT = select(_ENDPOINTS.c.id).where(_ENDPOINTS.c.status == "active").limit(1)


def _any_endpoint(session: Session) -> bool:
    return session.scalar(_AN_ACTIVE_ENDPOINT) is not None


def _subscribers(session: Session, occurrence: Occurrence) -> list[WebhookEndpoint]:
    # A suspended organization can do nothing, receiving events included.
    query = (
        select(WebhookEndpoint)
        .join(Organization, Organization.id == WebhookEndpoint.org_id)
        .where(
            WebhookEndpoint.org_id.in_(occurrence.recipients),
            WebhookEndpoint.status == "active",
            Organization.status == "active",
        )
    )
    if occurrence.endpoint_id is not None:
        query = query.where(WebhookEndpoint.id == occurrence.endpoint_id)
        return list(session.scalars(query))
    endpoints = session.scalars(query.order_by(WebhookEndpoint.id))
    return [e for e in endpoints if occurrence.type in e.events]
