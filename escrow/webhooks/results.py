"""What the webhook use cases return: endpoints, and deliveries with their attempts.

Built inside the use case while its session is open (see escrow/orgs/results.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escrow.webhooks.secrets import IssuedSecret
from storage.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An endpoint as its admins see it: never its secret."""

    id: str
    org: str  # the organization's slug
    url: str
    description: str
    events: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None  # manual, or failure_budget when disabled automatically
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None  # during a rotation's grace period


@dataclass(frozen=True, slots=True)
class CreatedEndpoint:
    """A new endpoint and its first secret, shown this once."""

    endpoint: Endpoint
    secret: IssuedSecret


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    started_at: datetime
    duration_ms: int
    outcome: str  # delivered | failed | dead
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempt_count: int
    next_attempt_at: datetime | None  # only while pending
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    redelivery_of: str | None
    attempts: tuple[Attempt, ...]


@dataclass(frozen=True, slots=True)
class DeliveryDetail:
    """One delivery with the exact body (JSON text) every attempt sent."""

    delivery: Delivery
    payload: str


def endpoint_of(row: WebhookEndpoint, org_slug: str, previous: datetime | None) -> Endpoint:
    """``previous``: when the previous secret stops signing, during a rotation's grace."""
    return Endpoint(
        id=row.id,
        org=org_slug,
        url=row.url,
        description=row.description,
        events=tuple(row.events),
        enabled=row.status == "active",
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        previous_secret_expires_at=previous,
    )


def delivery_of(row: WebhookDelivery, attempts: list[WebhookAttempt]) -> Delivery:
    """``attempts``: the delivery's, in order."""
    pending = row.status == "pending"
    return Delivery(
        id=row.id,
        endpoint_id=row.endpoint_id,
        event_id=row.event_id,
        event_type=row.event_type,
        status=row.status,
        attempt_count=row.attempts,
        next_attempt_at=row.next_attempt_at if pending else None,
        last_attempt_at=row.last_attempt_at,
        delivered_at=row.delivered_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        redelivery_of=row.redelivery_of,
        attempts=tuple(attempt_of(a) for a in attempts),
    )


def attempt_of(row: WebhookAttempt) -> Attempt:
    return Attempt(
        row.number, row.started_at, row.duration_ms, row.outcome, row.status_code, row.error
    )
