"""Webhook endpoint, secret and delivery bodies."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

import msgspec

from escrow.schemas import Input
from escrow.webhooks.destinations import MAX_URL_LENGTH
from escrow.webhooks.results import Attempt, CreatedEndpoint, Delivery, DeliveryDetail, Endpoint
from escrow.webhooks.secrets import IssuedSecret

EventType = Literal[
    "agreement.awaiting_approval",
    "agreement.released",
    "agreement.revoked",
    "agreement.expiring",
    "dataset.deposit_received",
    "org.operator_action",
    "overlaps.changed",
    "webhook.disabled",
]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_URL_LENGTH)]
Description = Annotated[str, msgspec.Meta(max_length=200)]
# Each type at most once (repeats are merged): long enough to name every type.
Events = Annotated[list[EventType], msgspec.Meta(min_length=1, max_length=len(get_args(EventType)))]
DeliveryStatus = Literal["pending", "delivered", "dead", "cancelled"]
ALL_EVENTS: list[EventType] = [
    "agreement.awaiting_approval",
    "agreement.released",
    "agreement.revoked",
    "agreement.expiring",
    "dataset.deposit_received",
    "org.operator_action",
    "overlaps.changed",
    "webhook.disabled",
]


class WebhookCreate(Input):
    url: Url
    description: Description = ""
    events: Events = msgspec.field(default_factory=lambda: list(ALL_EVENTS))


class WebhookUpdate(Input):
    url: Url | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    events: Events | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


class SecretRotate(Input):
    # How long the previous secret keeps signing alongside the new one (0: stops now).
    grace_seconds: Annotated[int, msgspec.Meta(ge=0, le=604_800)] = 86_400


class WebhookOut(msgspec.Struct, kw_only=True):
    """An endpoint as its admins see it: never its secret."""

    id: str
    org: str
    url: str
    description: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None  # manual, or failure_budget when disabled automatically
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None  # during a rotation's grace period

    @classmethod
    def of(cls, endpoint: Endpoint) -> WebhookOut:
        return cls(**_endpoint_fields(endpoint))


class WebhookCreatedOut(WebhookOut, kw_only=True):
    """The secret appears here once and is never retrievable again."""

    secret: str

    @classmethod
    def created(cls, created: CreatedEndpoint) -> WebhookCreatedOut:
        return cls(**_endpoint_fields(created.endpoint), secret=created.secret.secret)


class SecretOut(msgspec.Struct):
    """The new secret, shown once; the previous one signs too until previous_expires_at."""

    webhook_id: str
    secret: str
    created_at: datetime
    previous_secret_expires_at: datetime | None

    @classmethod
    def of(cls, endpoint_id: str, issued: IssuedSecret) -> SecretOut:
        return cls(endpoint_id, issued.secret, issued.created_at, issued.previous_expires_at)


class AttemptOut(msgspec.Struct):
    number: int
    started_at: datetime
    duration_ms: int
    outcome: str  # delivered | failed | dead
    status_code: int | None
    error: str | None

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptOut:
        return cls(
            attempt.number,
            attempt.started_at,
            attempt.duration_ms,
            attempt.outcome,
            attempt.status_code,
            attempt.error,
        )


class DeliveryOut(msgspec.Struct, kw_only=True):
    id: str
    webhook_id: str
    event_id: str
    event_type: str
    status: str
    attempt_count: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    redelivery_of: str | None
    attempts: list[AttemptOut]

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        return cls(**_delivery_fields(delivery))


class DeliveryDetailOut(DeliveryOut, kw_only=True):
    """One delivery with the exact body every attempt sent."""

    payload: dict[str, Any]

    @classmethod
    def detail(cls, detail: DeliveryDetail) -> DeliveryDetailOut:
        return cls(**_delivery_fields(detail.delivery), payload=json.loads(detail.payload))


def _endpoint_fields(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "org": endpoint.org,
        "url": endpoint.url,
        "description": endpoint.description,
        "events": list(endpoint.events),
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": endpoint.disabled_at,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
        "previous_secret_expires_at": endpoint.previous_secret_expires_at,
    }


def _delivery_fields(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "webhook_id": delivery.endpoint_id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempt_count": delivery.attempt_count,
        "next_attempt_at": delivery.next_attempt_at,
        "last_attempt_at": delivery.last_attempt_at,
        "delivered_at": delivery.delivered_at,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at,
        "redelivery_of": delivery.redelivery_of,
        "attempts": [AttemptOut.of(a) for a in delivery.attempts],
    }
