"""Webhooks: endpoints, their signing secrets, the delivery outbox, attempts and notices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import ID, Base


class WebhookEndpoint(Base):
    """A URL an organization registered to receive the events that concern it.

    ``status``: ``active`` (receives events), ``disabled`` (no new events; queued deliveries
    wait) or ``deleted`` (gone from the API; its secrets are erased, its history is kept).
    A disabled endpoint says why (``disabled_reason``: ``manual`` by an admin, or
    ``failure_budget`` once ``consecutive_dead`` deliveries in a row died) and since when.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        Index("ix_webhook_endpoints_org_page", "org_id", "id"),
        CheckConstraint("status IN ('active', 'disabled', 'deleted')", name="webhook_status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(200), default="")
    events: Mapped[list[str]] = mapped_column(JSON)  # the event types it subscribes to
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_by: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(40))
    disabled_at: Mapped[datetime | None]
    # Dead deliveries since the last delivered one: the failure budget's count.
    consecutive_dead: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class WebhookSecret(Base):
    """A signing secret, sealed under its own DEK (wrapped by the keyring's active KEK).

    An endpoint has one current secret (``expires_at`` NULL) and, during a rotation's grace
    period, the previous one; expired rows are deleted.
    """

    __tablename__ = "webhook_secrets"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    ciphertext: Mapped[str] = mapped_column(Text)  # base64 of the StreamingAead ciphertext
    wrapped_dek: Mapped[str] = mapped_column(String(255))
    kek_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """One event for one endpoint: the durable outbox row and its delivery state.

    ``status``: ``pending`` (due at ``next_attempt_at``), ``delivered``, ``dead`` (attempts
    exhausted) or ``cancelled`` (the endpoint was deleted). ``claim_id`` names the run that
    is sending it; ``next_attempt_at`` is pushed past that run's deadline while it sends.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_page", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_retention", "status", "updated_at"),
        CheckConstraint(
            "status IN ('pending', 'delivered', 'dead', 'cancelled')", name="delivery_status"
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    org_id: Mapped[str] = mapped_column(ID)
    event_id: Mapped[str] = mapped_column(ID, index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body every attempt sends
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    claim_id: Mapped[str | None] = mapped_column(String(36))
    audit_seq: Mapped[int | None] = mapped_column(BigInteger)  # the event it was derived from
    redelivery_of: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# The delivery job's scan: pending rows by due time, and nothing else.
Index(
    "ix_webhook_deliveries_due",
    WebhookDelivery.next_attempt_at,
    postgresql_where=WebhookDelivery.status == "pending",
    sqlite_where=WebhookDelivery.status == "pending",
)


class WebhookAttempt(Base):
    """One POST of a delivery and what came of it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))  # "delivered" | "failed" | "dead"
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))


class WebhookNotice(Base):
    """A once-only event already emitted for a subject (``agreement.expiring`` per agreement);
    the primary key keeps replicas from emitting it twice."""

    __tablename__ = "webhook_notices"

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ID, primary_key=True)
    created_at: Mapped[datetime]
