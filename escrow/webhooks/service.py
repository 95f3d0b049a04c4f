"""Webhook use cases: an organization's endpoints, their secrets, and their deliveries.

Admins of the organization (and operators) manage its endpoints through the
``read_webhooks`` / ``manage_webhooks`` permissions on the Organization; anyone who cannot
even read the organization gets 404. Every change is audited; URLs enter the audit log only
as keyed digests (they may hold tokens) and secrets never do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import CursorResult, func, select, update

from crypto import KeyManager
from escrow.audit.log import AuditRecord
from escrow.errors import ConflictError, InvalidStateError, NotFoundError, ValidationError
from escrow.orgs.access import authorized_org
from escrow.paging import Page, decode_cursor, paginate
from escrow.service import Service, ServiceDeps
from escrow.settings import WebhookSettings
from escrow.webhooks import secrets
from escrow.webhooks.destinations import check_url
from escrow.webhooks.events import EVENT_TYPES, PING
from escrow.webhooks.outbox import WebhookOutbox
from escrow.webhooks.results import (
    CreatedEndpoint,
    Delivery,
    DeliveryDetail,
    Endpoint,
    delivery_of,
    endpoint_of,
)
from storage.models import Organization, WebhookAttempt, WebhookDelivery, WebhookEndpoint

MAX_ENDPOINTS_PER_ORG = 10
DELIVERY_STATUSES = ("pending", "delivered", "dead", "cancelled")
MANUAL = "manual"  # disabled_reason when an admin disabled the endpoint


@dataclass(frozen=True)
class Changes:
    """A PATCH: None leaves a field as it is."""

    url: str | None = None
    description: str | None = None
    events: list[str] | None = None
    enabled: bool | None = None


class WebhookService(Service):
    def __init__(self, deps: ServiceDeps, settings: WebhookSettings, keys: KeyManager) -> None:
        super().__init__(deps)
        self.settings = settings  # which URLs endpoints may have
        self.keys = keys  # seals endpoints' signing secrets

    # ------------------------------------------------------------------ endpoints

    def create(self, slug: str, url: str, description: str, events: list[str]) -> CreatedEndpoint:
        org = self._org(slug, "manage_webhooks")
        url = self._checked_url(url)
        # The org row serializes creations, so concurrent ones cannot pass the cap together.
        self.session.execute(
            select(Organization.id).where(Organization.id == org.id).with_for_update()
        )
        live = self.session.scalar(
            select(func.count())
            .select_from(WebhookEndpoint)
            .where(WebhookEndpoint.org_id == org.id, WebhookEndpoint.status != "deleted")
        )
        if (live or 0) >= MAX_ENDPOINTS_PER_ORG:
            raise ConflictError(f"an organization has at most {MAX_ENDPOINTS_PER_ORG} endpoints")
        now = self.deps.clock.now()
        endpoint = WebhookEndpoint(
            id=self.deps.new_id(),
            org_id=org.id,
            url=url,
            description=description,
            events=_valid_events(events),
            status="active",
            created_by=self.ctx.principal.id,
            created_at=now,
            updated_at=now,
        )
        self.session.add(endpoint)
        self.session.flush()
        issued = secrets.issue(self.session, self.keys, self.deps.new_id, endpoint.id, now)
        self.commit_with_event(
            AuditRecord(
                "webhook.create",
                "success",
                "webhook_endpoint",
                endpoint.id,
                org_ids=(org.id,),
                details={"events": endpoint.events, "host": urlsplit(url).hostname},
                sensitive={"url": url},
            )
        )
        # A new endpoint has no previous secret.
        return CreatedEndpoint(endpoint_of(endpoint, org.slug, None), issued)

    def list_in_org(self, slug: str, cursor: str | None, limit: int) -> Page:
        """A page of ``Endpoint``s."""
        org = self._org(slug, "read_webhooks")
        query = (
            select(WebhookEndpoint)
            .where(WebhookEndpoint.org_id == org.id, WebhookEndpoint.status != "deleted")
            .order_by(WebhookEndpoint.id)
            .limit(limit + 1)
        )
        if after := decode_cursor(cursor):
            query = query.where(WebhookEndpoint.id > after)
        page = paginate(list(self.session.scalars(query)), limit)
        return Page(self._endpoint_results(org, page.items), page.next_cursor)

    def _checked_url(self, url: str) -> str:
        """Resolves the host with no transaction open: a slow DNS server must not hold a
        pooled connection idle in a transaction (callers have authorized already)."""
        self.session.commit()
        return check_url(url, self.settings)

    def get(self, slug: str, endpoint_id: str) -> Endpoint:
        org = self._org(slug, "read_webhooks")
        return self._endpoint_result(org, self._endpoint(org, endpoint_id))

    def update(self, slug: str, endpoint_id: str, changes: Changes) -> Endpoint:
        org = self._org(slug, "manage_webhooks")
        endpoint = self._endpoint(org, endpoint_id)
        changed: dict[str, Any] = {}
        sensitive: dict[str, str | None] = {}
        if changes.url is not None and changes.url != endpoint.url:
            endpoint.url = self._checked_url(changes.url)
            changed["host"] = urlsplit(endpoint.url).hostname
            sensitive["url"] = endpoint.url
        if changes.description is not None:
            endpoint.description = changes.description
            changed["description"] = True
        if changes.events is not None:
            endpoint.events = changed["events"] = _valid_events(changes.events)
        now = self.deps.clock.now()
        if changes.enabled is not None and changes.enabled != (endpoint.status == "active"):
            if changes.enabled:
                changed["enabled_from"] = endpoint.disabled_reason
                _enable(endpoint)
            else:
                endpoint.status, endpoint.disabled_reason = "disabled", MANUAL
                endpoint.disabled_at = now
            changed["enabled"] = changes.enabled
        endpoint.updated_at = now
        self.commit_with_event(
            AuditRecord(
                "webhook.update",
                "success",
                "webhook_endpoint",
                endpoint.id,
                org_ids=(org.id,),
                details=changed,
                sensitive=sensitive,
            )
        )
        return self._endpoint_result(org, endpoint)

    def enable(self, slug: str, endpoint_id: str) -> Endpoint:
        """Active again, whether an admin or the failure budget disabled it: its count starts
        over and its queued deliveries are due at once."""
        org = self._org(slug, "manage_webhooks")
        endpoint = self._endpoint(org, endpoint_id)
        details = {"was": endpoint.status, "disabled_reason": endpoint.disabled_reason}
        _enable(endpoint)
        endpoint.updated_at = self.deps.clock.now()
        self.commit_with_event(
            AuditRecord(
                "webhook.enable",
                "success",
                "webhook_endpoint",
                endpoint.id,
                org_ids=(org.id,),
                details=details,
            )
        )
        return self._endpoint_result(org, endpoint)

    def delete(self, slug: str, endpoint_id: str) -> None:
        """Gone at once: its secrets are erased and its queued deliveries cancelled."""
        org = self._org(slug, "manage_webhooks")
        endpoint = self._endpoint(org, endpoint_id)
        now = self.deps.clock.now()
        endpoint.status, endpoint.deleted_at, endpoint.updated_at = "deleted", now, now
        secrets.erase_all(self.session, endpoint.id)
        result: CursorResult[Any] = self.session.execute(  # type: ignore[assignment]
            update(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == "pending")
            .values(status="cancelled", next_attempt_at=None, claim_id=None, updated_at=now)
        )
        cancelled = result.rowcount
        self.commit_with_event(
            AuditRecord(
                "webhook.delete",
                "success",
                "webhook_endpoint",
                endpoint.id,
                org_ids=(org.id,),
                details={"cancelled_deliveries": int(cancelled or 0)},
            )
        )

    def rotate_secret(
        self, slug: str, endpoint_id: str, grace_seconds: int
    ) -> secrets.IssuedSecret:
        """A new secret now; the previous one keeps signing for the grace period."""
        grace = timedelta(seconds=grace_seconds)
        if not timedelta(0) <= grace <= secrets.MAX_GRACE:
            raise ValidationError(
                "grace_seconds must be between 0 and 604800", field="grace_seconds"
            )
        org = self._org(slug, "manage_webhooks")
        endpoint = self._endpoint(org, endpoint_id)
        now = self.deps.clock.now()
        issued = secrets.rotate(self.session, self.keys, self.deps.new_id, endpoint.id, now, grace)
        endpoint.updated_at = now
        previous = issued.previous_expires_at
        self.commit_with_event(
            AuditRecord(
                "webhook.rotate_secret",
                "success",
                "webhook_endpoint",
                endpoint.id,
                org_ids=(org.id,),
                details={"previous_expires_at": previous.isoformat() if previous else None},
            )
        )
        return issued

    # ------------------------------------------------------------------ deliveries

    def ping(self, slug: str, endpoint_id: str) -> Delivery:
        """Queues a ``ping`` event for this endpoint (through the outbox like any event)."""
        org = self._org(slug, "manage_webhooks")
        endpoint = self._endpoint(org, endpoint_id)
        if endpoint.status != "active":
            raise InvalidStateError("this endpoint is disabled; enable it to ping it")
        if org.status != "active":
            raise InvalidStateError(f"organization {org.slug!r} is suspended")
        seq = self.deps.audit.append_indexed(  # the delivery below is found by it
            self.session,
            self.ctx,
            AuditRecord(
                "webhook.ping", "success", "webhook_endpoint", endpoint.id, org_ids=(org.id,)
            ),
        )
        self.session.commit()
        delivery = self.session.scalar(
            select(WebhookDelivery).where(
                WebhookDelivery.endpoint_id == endpoint.id,
                WebhookDelivery.event_type == PING,
                WebhookDelivery.audit_seq == seq,
            )
        )
        if delivery is None:  # pragma: no cover - the outbox listener writes it with the event
            raise RuntimeError("the ping was not queued")
        return delivery_of(delivery, [])  # queued just now: not attempted yet

    def deliveries(
        self, slug: str, endpoint_id: str, status: str | None, cursor: str | None, limit: int
    ) -> Page:
        """A page of ``Delivery``s with their attempts, newest first."""
        endpoint = self._endpoint(self._org(slug, "read_webhooks"), endpoint_id)
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit + 1)
        )
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        if before := decode_cursor(cursor):
            query = query.where(WebhookDelivery.id < before)
        page = paginate(list(self.session.scalars(query)), limit)
        attempts = self._attempts(page.items)
        return Page([delivery_of(d, attempts[d.id]) for d in page.items], page.next_cursor)

    def delivery(self, slug: str, endpoint_id: str, delivery_id: str) -> DeliveryDetail:
        endpoint = self._endpoint(self._org(slug, "read_webhooks"), endpoint_id)
        found = self._delivery(endpoint, delivery_id)
        attempts = self._attempts([found])[found.id]
        return DeliveryDetail(delivery_of(found, attempts), found.payload)

    def redeliver(self, slug: str, endpoint_id: str, delivery_id: str) -> Delivery:
        """A new delivery of the same event (same body and event id), due now."""
        org = self._org(slug, "manage_webhooks")
        endpoint = self._endpoint(org, endpoint_id)
        original = self._delivery(endpoint, delivery_id)
        if original.status == "pending":
            raise InvalidStateError("this delivery is still being attempted")
        if endpoint.status != "active":
            raise InvalidStateError("this endpoint is disabled; enable it to redeliver")
        outbox = WebhookOutbox(self.deps.clock, self.deps.new_id)
        copy = outbox.delivery(
            endpoint,
            original.event_id,
            original.event_type,
            original.payload,
            original.audit_seq,
            redelivery_of=original.id,
        )
        self.session.add(copy)
        self.session.flush()
        self.commit_with_event(
            AuditRecord(
                "webhook.redeliver",
                "success",
                "webhook_delivery",
                copy.id,
                org_ids=(org.id,),
                details={"endpoint_id": endpoint.id, "redelivery_of": original.id},
            )
        )
        return delivery_of(copy, [])  # queued just now: not attempted yet

    # ------------------------------------------------------------------ internals

    def _endpoint_results(self, org: Organization, rows: list[WebhookEndpoint]) -> list[Endpoint]:
        """Their results, with when each one's previous secret stops signing (one query)."""
        now = self.deps.clock.now()
        previous = secrets.previous_expiry(self.session, [e.id for e in rows], now)
        return [endpoint_of(e, org.slug, previous.get(e.id)) for e in rows]

    def _endpoint_result(self, org: Organization, row: WebhookEndpoint) -> Endpoint:
        (endpoint,) = self._endpoint_results(org, [row])
        return endpoint

    def _attempts(self, deliveries: list[WebhookDelivery]) -> dict[str, list[WebhookAttempt]]:
        """Delivery id -> its attempts in order, for all of ``deliveries`` in one query."""
        found: dict[str, list[WebhookAttempt]] = {d.id: [] for d in deliveries}
        if not found:
            return found
        for attempt in self.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(found))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
        ):
            found[attempt.delivery_id].append(attempt)
        return found

    def _org(self, slug: str, action: str) -> Organization:
        return authorized_org(self.deps, slug, action)

    def _endpoint(self, org: Organization, endpoint_id: str) -> WebhookEndpoint:
        endpoint = self.session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None or endpoint.org_id != org.id or endpoint.status == "deleted":
            raise NotFoundError(f"no webhook endpoint {endpoint_id!r} in {org.slug!r}")
        return endpoint

    def _delivery(self, endpoint: WebhookEndpoint, delivery_id: str) -> WebhookDelivery:
        delivery = self.session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.endpoint_id != endpoint.id:
            raise NotFoundError(f"no delivery {delivery_id!r} for this endpoint")
        return delivery


def _enable(endpoint: WebhookEndpoint) -> None:
    endpoint.status, endpoint.disabled_reason, endpoint.disabled_at = "active", None, None
    endpoint.consecutive_dead = 0


def _valid_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if not events or unknown:
        raise ValidationError(
            f"events must be a non-empty subset of {list(EVENT_TYPES)}",
            field="events",
            unknown=unknown,
        )
    return sorted(set(events))
