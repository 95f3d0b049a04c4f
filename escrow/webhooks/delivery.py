"""Delivering the outbox: claim due rows, POST them signed, record what happened.

A run claims a batch of due deliveries in one short transaction (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so replicas take disjoint batches; SQLite's single writer
serializes claims), marks each claimed by this run and pushes its due time past the run's
deadline, and commits. The POSTs happen with no transaction open. Each result is recorded
in its own transaction, with its audit event, only if the row is still claimed by this
run. A process that dies mid-send leaves rows that fall due again when the lease ends, so
a delivery is attempted at least once per lease and never lost; receivers deduplicate by
``webhook-id`` (the event id; Standard Webhooks, see signing.py).

A run has at most ``concurrency`` attempts in flight, and at most
``concurrency_per_endpoint`` to one endpoint (1 by default: one after another, oldest
first); once an endpoint's receiver fails, the rest of its batch is given back untried, so
a failing receiver gets about one request per run rather than a burst. An attempt ends
after ``timeout_seconds`` in all (attempt.py), so one slow receiver costs a run at most
one timeout per lane.

Backoff: after failed attempt n the next is due ``min(cap, base * 2**(n-1))`` later by the
injected clock, less a random part of up to half of it (equal jitter, from the injected
random source), so that deliveries that failed together do not come back together; after
``max_attempts`` failures the delivery is ``dead``, which counts against the endpoint's
failure budget (failure_budget.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select, update

from crypto import KeyManager
from escrow.audit.log import AuditLog, AuditRecord
from escrow.clock import Clock
from escrow.context import RequestContext
from escrow.ids import IdFactory
from escrow.instruments import WEBHOOK_DELIVERIES, WEBHOOK_ENDPOINTS_DISABLED
from escrow.settings import WebhookSettings
from escrow.webhooks import secrets
from escrow.webhooks.attempt import Claimed, Outcome, send, tls_context
from escrow.webhooks.expiring import emit_expiry_notices
from escrow.webhooks.failure_budget import count_result
from escrow.webhooks.retention import purge_finished
from storage.db import Database
from storage.models import (
    Organization,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSecret,
)

log = logging.getLogger("escrow.webhooks")

BATCH = 20
MAX_BATCHES = 10  # per run; what is left waits for the next run


def backoff(policy: WebhookSettings, attempt: int, draw: float) -> timedelta:
    """The wait after failed attempt ``attempt`` (1-based): doubling, capped, then equal
    jitter: ``draw`` (uniform in [0, 1)) takes up to half of it off, so the wait lies in
    (half, whole]."""
    exponent = min(attempt - 1, 32)  # beyond that the cap has long applied
    wait = min(policy.backoff_max_seconds, policy.backoff_seconds * 2**exponent)
    return timedelta(seconds=wait * (1 - min(max(draw, 0.0), 1.0) / 2))


def lease(policy: WebhookSettings) -> timedelta:
    """How long a claim lasts: well past one attempt's timeout."""
    return timedelta(seconds=max(60, 3 * policy.timeout_seconds))


class Deliveries:
    """The outbox's due deliveries: claimed, sent and recorded by the periodic job (``run``).

    ``random`` draws uniformly from [0, 1) for the backoff's jitter."""

    def __init__(
        self,
        db: Database,
        keyring: KeyManager,
        audit: AuditLog,
        clock: Clock,
        new_id: IdFactory,
        random: Callable[[], float],
        policy: WebhookSettings,
    ) -> None:
        self._db = db
        self._keyring = keyring
        self._audit = audit
        self._clock = clock
        self._new_id = new_id
        self._random = random
        self._policy = policy

    def run(self) -> int:
        """The scheduled job: expiry notices, expired secrets, old finished deliveries, then
        every due delivery."""
        emit_expiry_notices(self._db, self._audit, self._clock)
        with self._db.session() as session:
            secrets.erase_expired(session, self._clock.now())
            session.commit()
        purge_finished(self._db, self._audit, self._clock, self._policy)
        return self.deliver_due()

    def deliver_due(self, *, max_batches: int = MAX_BATCHES) -> int:
        """Attempts the due deliveries (up to ``max_batches`` batches); returns how many."""
        policy = self._policy
        attempted = 0
        claimed = self.claim(BATCH)
        if not claimed:
            return 0
        tls = tls_context()
        with ThreadPoolExecutor(policy.concurrency, thread_name_prefix="webhook") as pool:

            def send_in_turn(lane: Lane) -> int:
                """Takes one endpoint's deliveries in turn, each recorded as soon as it is
                known. Once its receiver fails, the rest are put back untried rather than
                piled on."""
                sent = 0
                while (item := lane.take()) is not None:
                    sent += 1
                    outcome = send(self._keyring, self._clock, policy, tls, item)
                    if self.record(item, outcome) in ("failed", "dead"):
                        self.release(lane.stop())
                return sent

            for _ in range(max_batches):
                lanes = [Lane(queue) for queue in _by_endpoint(claimed)]
                workers = [lane for lane in lanes for _ in range(policy.concurrency_per_endpoint)]
                attempted += sum(pool.map(send_in_turn, workers))
                claimed = self.claim(BATCH)
                if not claimed:
                    break
        return attempted

    def claim(self, limit: int) -> list[Claimed]:
        """Takes up to ``limit`` due deliveries of active endpoints for this run (committed)."""
        now = self._clock.now()
        claim_id = self._new_id()
        with self._db.session() as session:
            rows = session.execute(
                select(WebhookDelivery, WebhookEndpoint.url)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .join(Organization, Organization.id == WebhookEndpoint.org_id)
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                    WebhookEndpoint.status == "active",
                    Organization.status == "active",  # a suspended org's queue waits
                )
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(limit)
                .with_for_update(of=WebhookDelivery, skip_locked=True)
            ).all()
            if not rows:
                return []
            live: dict[str, list[WebhookSecret]] = {}
            endpoint_ids = sorted({delivery.endpoint_id for delivery, _ in rows})
            for secret in secrets.live_rows(session, endpoint_ids, now):
                live.setdefault(secret.endpoint_id, []).append(secret)
            claimed = []
            for delivery, url in rows:
                delivery.claim_id = claim_id
                delivery.attempts += 1
                delivery.last_attempt_at = delivery.updated_at = now
                delivery.next_attempt_at = now + lease(self._policy)
                claimed.append(
                    Claimed(
                        delivery.id,
                        claim_id,
                        delivery.attempts,
                        delivery.endpoint_id,
                        url,
                        delivery.event_id,
                        delivery.event_type,
                        delivery.payload.encode("utf-8"),
                        tuple(live.get(delivery.endpoint_id, ())),
                    )
                )
            session.commit()
        return claimed

    def record(self, claimed: Claimed, outcome: Outcome) -> str | None:
        """Stores the attempt and the delivery's next state with its audit event; returns the
        result (delivered, failed, dead), or None when the row is no longer this run's."""
        policy = self._policy
        with self._db.session() as session:
            # The endpoint's row first, as every writer of both takes them: its failure budget
            # changes with the result.
            session.get(WebhookEndpoint, claimed.endpoint_id, with_for_update=True)
            delivery = session.get(WebhookDelivery, claimed.delivery_id, with_for_update=True)
            ours = delivery is not None and delivery.claim_id == claimed.claim_id
            if delivery is None or not ours or delivery.status != "pending":
                log.warning(
                    "webhook delivery %s changed hands; result dropped", claimed.delivery_id
                )
                return None
            now = self._clock.now()
            if outcome.delivered:
                result, delivery.status, delivery.delivered_at = "delivered", "delivered", now
                delivery.next_attempt_at = None
            elif delivery.attempts >= policy.max_attempts:
                result, delivery.status, delivery.next_attempt_at = "dead", "dead", None
            else:
                result = "failed"
                delivery.next_attempt_at = now + backoff(policy, delivery.attempts, self._random())
            delivery.claim_id = None
            delivery.last_status_code, delivery.last_error = outcome.status_code, outcome.error
            delivery.updated_at = now
            session.add(_attempt(self._new_id(), claimed, outcome, result))
            event = _audit_record(delivery, claimed, outcome, result)
            self._audit.append(session, _CONTEXT, event)
            disabled = count_result(session, self._audit, policy, delivery.endpoint_id, result, now)
            session.commit()
        WEBHOOK_DELIVERIES.labels(result=result).inc()
        if disabled:
            WEBHOOK_ENDPOINTS_DISABLED.inc()
        return result

    def release(self, items: list[Claimed]) -> None:
        """Gives deliveries back untried (no attempt counted), due after the first backoff."""
        if not items:
            return
        now = self._clock.now()
        with self._db.session() as session:
            session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id.in_([item.delivery_id for item in items]),
                    WebhookDelivery.claim_id == items[0].claim_id,
                    WebhookDelivery.status == "pending",
                )
                .values(
                    claim_id=None,
                    attempts=WebhookDelivery.attempts - 1,
                    next_attempt_at=now + backoff(self._policy, 1, self._random()),
                    updated_at=now,
                )
            )
            session.commit()


@dataclass
class Lane:
    """One endpoint's claimed deliveries, oldest first, shared by the workers sending them."""

    queue: list[Claimed]
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> Claimed | None:
        with self._lock:
            return self.queue.pop(0) if self.queue else None

    def stop(self) -> list[Claimed]:
        """What was not taken yet; nothing more is taken."""
        with self._lock:
            rest, self.queue = self.queue, []
            return rest


def _by_endpoint(claimed: list[Claimed]) -> list[list[Claimed]]:
    queues: dict[str, list[Claimed]] = {}
    for item in claimed:
        queues.setdefault(item.endpoint_id, []).append(item)
    return list(queues.values())


def _attempt(attempt_id: str, claimed: Claimed, outcome: Outcome, result: str) -> WebhookAttempt:
    return WebhookAttempt(
        id=attempt_id,
        delivery_id=claimed.delivery_id,
        number=claimed.attempt,
        started_at=outcome.started_at,
        duration_ms=outcome.duration_ms,
        outcome=result,
        status_code=outcome.status_code,
        error=outcome.error,
    )


def _audit_record(
    delivery: WebhookDelivery, claimed: Claimed, outcome: Outcome, result: str
) -> AuditRecord:
    """What left the platform, where to, and how it went (no body, no secret)."""
    return AuditRecord(
        "webhook.deliver",
        "success" if outcome.delivered else "failed",
        "webhook_delivery",
        delivery.id,
        reason=outcome.reason,
        org_ids=(delivery.org_id,),
        details={
            "endpoint_id": delivery.endpoint_id,
            "event_id": delivery.event_id,
            "event_type": delivery.event_type,
            "attempt": claimed.attempt,
            "status_code": outcome.status_code,
            "result": result,
            "next_attempt_at": (
                delivery.next_attempt_at.isoformat() if delivery.next_attempt_at else None
            ),
        },
    )


_CONTEXT = RequestContext(request_id="webhook-delivery")
