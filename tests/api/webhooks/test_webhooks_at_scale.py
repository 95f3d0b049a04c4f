"""Webhooks at scale: the whole-attempt deadline, bounded concurrency, jittered backoff, the
failure budget that disables an endpoint, and retention of finished deliveries.

As in test_webhooks.py the delivery job is called directly and time is the FrozenClock's;
the only waiting is the slow receiver's own and a barrier that proves attempts overlap.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from escrow.app import webhook_deliveries
from escrow.clock import FrozenClock
from escrow.components import Components
from escrow.config import load_settings
from escrow.errors import ConfigError
from escrow.webhooks import delivery, retention
from storage.models import WebhookAttempt, WebhookDelivery
from tests.api.webhooks.test_webhooks import Parties, _at, _deliveries, _events, _hook, _ping
from tests.fixtures.api import Ecosystem
from tests.fixtures.webhook_receiver import Received, WebhookReceiver, running_receiver

BASE, CAP = 60, 200
DEAD_BUDGET = 2


@pytest.fixture
def settings_env(settings_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **settings_env,
        "ESCROW_WEBHOOK_INTERVAL": "0",  # the tests run the job themselves
        "ESCROW_WEBHOOK_ALLOW_HTTP": "true",
        "ESCROW_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "ESCROW_WEBHOOK_BACKOFF_SECONDS": str(BASE),
        "ESCROW_WEBHOOK_BACKOFF_MAX_SECONDS": str(CAP),
        "ESCROW_WEBHOOK_MAX_ATTEMPTS": "1",  # every failure is a dead delivery
        "ESCROW_WEBHOOK_TIMEOUT": "1",
        "ESCROW_WEBHOOK_DISABLE_AFTER_DEAD": str(DEAD_BUDGET),
        "ESCROW_WEBHOOK_RETENTION_DAYS": "30",
    }


@pytest.fixture
def components(components: Components) -> Components:
    components.random = lambda: 0.0  # no jitter unless a test draws otherwise
    return components


@pytest.fixture
def parties(eco: Ecosystem) -> Parties:
    return Parties(eco)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver() as running:
        yield running


def _with(components: Components, **webhooks: Any) -> None:
    policy = dataclasses.replace(components.settings.webhooks, **webhooks)
    components.settings = dataclasses.replace(components.settings, webhooks=policy)


def _disabled_count() -> float:
    return REGISTRY.get_sample_value("escrow_webhook_endpoints_disabled_total") or 0


# ---------------------------------------------------------------------------- deadline


def test_a_trickling_receiver_cannot_hold_an_attempt_past_its_deadline(
    parties: Parties, receiver: WebhookReceiver, components: Components
) -> None:
    """Each byte comes well inside any per-read timeout (every 50 ms, the answer ~11 kB long,
    so ~9 minutes in all); the attempt still ends when its one second is up."""
    receiver.trickle_seconds = 0.05
    webhook = parties.register(parties.admin, "acme", receiver.url)
    _ping(parties.admin, "acme", webhook)
    began = time.monotonic()
    assert webhook_deliveries(components).deliver_due() == 1
    elapsed = time.monotonic() - began
    [row] = _deliveries(parties.admin, "acme", webhook)
    [attempt] = row["attempts"]
    assert attempt["error"] == "no answer within the timeout" and attempt["status_code"] is None
    assert 1000 <= attempt["duration_ms"] < 2000
    assert elapsed < 3
    assert 0 < receiver.trickled < 100  # cut off early in the status line and headers
    audited = [e for e in _events(components) if e.action == "webhook.deliver"]
    assert [(e.outcome, e.reason) for e in audited] == [("failed", "timeout")]


# ---------------------------------------------------------------------------- concurrency


def _hold_first(receiver: WebhookReceiver, parties: int) -> None:
    """The first ``parties`` requests wait for each other: they must be in flight together."""
    barrier = threading.Barrier(parties, timeout=10)
    held = iter(range(parties))
    lock = threading.Lock()

    def wait(_received: Received) -> None:
        with lock:
            first = next(held, None) is not None
        if first:
            barrier.wait()

    receiver.on_request = wait


def test_one_endpoint_gets_at_most_its_share_of_attempts_at_once(
    parties: Parties, receiver: WebhookReceiver, components: Components
) -> None:
    _with(components, concurrency=8, concurrency_per_endpoint=2)
    _hold_first(receiver, 2)
    webhook = parties.register(parties.admin, "acme", receiver.url)
    for _ in range(5):
        _ping(parties.admin, "acme", webhook)
    assert webhook_deliveries(components).deliver_due() == 5
    assert receiver.most_in_flight == 2
    assert len(_deliveries(parties.admin, "acme", webhook, status="delivered")) == 5


def test_a_run_has_at_most_its_concurrency_in_flight_across_endpoints(
    parties: Parties, receiver: WebhookReceiver, components: Components
) -> None:
    _with(components, concurrency=3, concurrency_per_endpoint=2)
    _hold_first(receiver, 3)
    first = parties.register(parties.admin, "acme", receiver.url + "/a")
    second = parties.register(parties.admin, "acme", receiver.url + "/b")
    for webhook in (first, second, first, second, first, second):
        _ping(parties.admin, "acme", webhook)
    assert webhook_deliveries(components).deliver_due() == 6
    assert receiver.most_in_flight == 3
    assert sorted(r.path for r in receiver.received) == ["/hooks/a"] * 3 + ["/hooks/b"] * 3


def test_concurrency_settings_are_bounded(settings_env: dict[str, str]) -> None:
    policy = load_settings({**settings_env, "ESCROW_WEBHOOK_CONCURRENCY": ""}).webhooks
    assert (policy.concurrency, policy.concurrency_per_endpoint) == (8, 1)
    for env in (
        {"ESCROW_WEBHOOK_CONCURRENCY": "0"},
        {"ESCROW_WEBHOOK_CONCURRENCY": "65"},
        {"ESCROW_WEBHOOK_CONCURRENCY": "4", "ESCROW_WEBHOOK_CONCURRENCY_PER_ENDPOINT": "5"},
        {"ESCROW_WEBHOOK_DISABLE_AFTER_DEAD": "-1"},
        {"ESCROW_WEBHOOK_RETENTION_DAYS": "0"},
    ):
        with pytest.raises(ConfigError, match=list(env)[-1]):
            load_settings({**settings_env, **env})


# ---------------------------------------------------------------------------- jitter


@pytest.mark.parametrize("attempt", [1, 2, 3, 40])
def test_backoff_jitter_stays_within_its_bounds(settings_env: dict[str, str], attempt: int) -> None:
    """Equal jitter: the wait lies in (half, whole] of the capped doubling."""
    policy = load_settings(settings_env).webhooks
    whole = min(CAP, BASE * 2 ** (attempt - 1))
    waits = [delivery.backoff(policy, attempt, d).total_seconds() for d in (0, 0.25, 0.5, 0.999)]
    assert waits[0] == whole and waits[2] == whole * 0.75
    assert all(whole / 2 < wait <= whole for wait in waits)
    assert waits == sorted(waits, reverse=True)


def test_a_failed_attempt_is_retried_after_a_jittered_wait(
    parties: Parties, receiver: WebhookReceiver, components: Components, clock: FrozenClock
) -> None:
    _with(components, max_attempts=3)
    components.random = lambda: 0.5
    receiver.script = [503]
    webhook = parties.register(parties.admin, "acme", receiver.url)
    _ping(parties.admin, "acme", webhook)
    webhook_deliveries(components).deliver_due()
    [row] = _deliveries(parties.admin, "acme", webhook)
    assert _at(row["next_attempt_at"]) == clock.now() + timedelta(seconds=BASE * 0.75)


# ---------------------------------------------------------------------------- failure budget


def test_an_endpoint_whose_deliveries_keep_dying_is_disabled_and_the_admins_are_told(
    parties: Parties, receiver: WebhookReceiver, components: Components, clock: FrozenClock
) -> None:
    disabled_before = _disabled_count()
    receiver.script = [500, 500]
    with running_receiver() as watcher:
        failing = parties.register(parties.admin, "acme", receiver.url)
        parties.register(parties.admin, "acme", watcher.url, events=["webhook.disabled"])
        queued = [_ping(parties.admin, "acme", failing)["id"] for _ in range(3)]
        assert webhook_deliveries(components).deliver_due() == 1  # dies; the others are put back
        clock.advance(seconds=BASE)
        # The second dies, which spends the budget of 2; the watcher's event goes out too.
        assert webhook_deliveries(components).deliver_due() == 2
        now = clock.now()
        read = parties.admin.get(_hook("acme", failing)).json()
        assert read["enabled"] is False and read["disabled_reason"] == "failure_budget"
        assert _at(read["disabled_at"]) == now
        assert _disabled_count() == disabled_before + 1
        [told] = watcher.received
    event = told.event
    assert event["type"] == "webhook.disabled" and event["org"] == "acme"
    assert event["data"]["webhook"] == {
        "id": failing["id"],
        "href": f"/v1/orgs/acme/webhooks/{failing['id']}",
        "reason": "failure_budget",
        "disabled_at": now.isoformat(),
        "consecutive_dead": DEAD_BUDGET,
    }
    [disable] = [e for e in _events(components) if e.action == "webhook.disable"]
    assert (disable.outcome, disable.reason, disable.resource_id) == (
        "success",
        "failure_budget",
        failing["id"],
    )
    # Its last delivery waits, unattempted, however long.
    parties.eco.advance(clock, days=1)
    assert webhook_deliveries(components).deliver_due() == 0 and len(receiver.received) == 2
    waiting = _deliveries(parties.admin, "acme", failing, status="pending")
    assert [d["id"] for d in waiting] == [queued[2]] and waiting[0]["attempt_count"] == 0
    # An admin enables it again: audited, the count starts over, the queue moves.
    enabled = parties.admin.post(_hook("acme", failing) + "/enable")
    assert enabled.status_code == 200, enabled.text
    body = enabled.json()
    assert body["enabled"] is True and body["disabled_reason"] is None
    assert body["disabled_at"] is None
    [enable] = [e for e in _events(components) if e.action == "webhook.enable"]
    assert json.loads(enable.entry)["details"] == {
        "was": "disabled",
        "disabled_reason": "failure_budget",
    }
    assert webhook_deliveries(components).deliver_due() == 1
    assert receiver.received[-1].header("escrow-delivery-id") == queued[2]
    assert _deliveries(parties.admin, "acme", failing, status="pending") == []


def test_a_delivered_event_starts_the_failure_count_over(
    parties: Parties, receiver: WebhookReceiver, components: Components, clock: FrozenClock
) -> None:
    receiver.script = [500, 200, 500]
    webhook = parties.register(parties.admin, "acme", receiver.url)
    for _ in range(3):
        _ping(parties.admin, "acme", webhook)
        webhook_deliveries(components).deliver_due()
    statuses = [d["status"] for d in _deliveries(parties.admin, "acme", webhook)]
    assert statuses == ["dead", "delivered", "dead"]
    assert parties.admin.get(_hook("acme", webhook)).json()["enabled"] is True


def test_an_admin_who_disables_an_endpoint_is_recorded_as_its_reason(
    parties: Parties, receiver: WebhookReceiver, components: Components, clock: FrozenClock
) -> None:
    webhook = parties.register(parties.admin, "acme", receiver.url)
    changed = parties.admin.patch(_hook("acme", webhook), json={"enabled": False}).json()
    assert changed["disabled_reason"] == "manual" and _at(changed["disabled_at"]) == clock.now()
    enabled = parties.admin.post(_hook("acme", webhook) + "/enable").json()
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None


def test_only_admins_enable_and_a_denial_does_not_reveal_whether_the_endpoint_exists(
    parties: Parties, receiver: WebhookReceiver, components: Components
) -> None:
    webhook = parties.register(parties.admin, "acme", receiver.url)
    parties.admin.patch(_hook("acme", webhook), json={"enabled": False})
    real = _hook("acme", webhook) + "/enable"
    made_up = "/v1/orgs/acme/webhooks/00000000-0000-7000-8000-000000000000/enable"
    for caller, status in ((parties.steward, 403), (parties.outsider, 404)):
        answers = [caller.post(path) for path in (real, made_up)]
        assert [a.status_code for a in answers] == [status, status]
        assert answers[0].json()["type"] == answers[1].json()["type"]
        assert answers[0].headers["content-type"].startswith("application/problem+json")
    assert parties.admin.get(_hook("acme", webhook)).json()["enabled"] is False
    denied = [e.action for e in _events(components) if e.outcome == "denied"]
    assert denied.count("manage_webhooks") == 4  # each refusal is audited
    assert parties.admin.post(made_up).status_code == 404


def test_a_budget_of_zero_never_disables(
    parties: Parties, receiver: WebhookReceiver, components: Components
) -> None:
    _with(components, disable_after_dead=0)
    receiver.script = [500, 500, 500]
    webhook = parties.register(parties.admin, "acme", receiver.url)
    for _ in range(3):
        _ping(parties.admin, "acme", webhook)
        webhook_deliveries(components).deliver_due()
    assert parties.admin.get(_hook("acme", webhook)).json()["enabled"] is True


# ---------------------------------------------------------------------------- retention


def _stored(components: Components) -> tuple[dict[str, str], int]:
    with components.db.session() as session:
        rows = session.execute(select(WebhookDelivery.id, WebhookDelivery.status)).tuples()
        attempts = session.scalar(select(func.count()).select_from(WebhookAttempt)) or 0
        return dict(rows.all()), attempts


def _purge_finished(components: Components) -> int:
    return retention.purge_finished(
        components.db, components.audit, components.clock, components.settings.webhooks
    )


def test_finished_deliveries_are_deleted_after_the_retention_period(
    parties: Parties, receiver: WebhookReceiver, components: Components, clock: FrozenClock
) -> None:
    receiver.script = [200, 500]
    webhook = parties.register(parties.admin, "acme", receiver.url)
    delivered = _ping(parties.admin, "acme", webhook)["id"]
    webhook_deliveries(components).deliver_due()
    dead = _ping(parties.admin, "acme", webhook)["id"]
    webhook_deliveries(components).deliver_due()
    pending = _ping(parties.admin, "acme", webhook)["id"]
    parties.admin.patch(_hook("acme", webhook), json={"enabled": False})  # so it stays pending
    assert _stored(components) == ({delivered: "delivered", dead: "dead", pending: "pending"}, 2)
    clock.advance(days=30)
    assert _purge_finished(components) == 0  # exactly 30 days old: kept
    clock.advance(seconds=1)
    assert webhook_deliveries(components).run() == 0  # the periodic job purges
    assert _stored(components) == ({pending: "pending"}, 0)
    [purge] = [e for e in _events(components) if e.action == "webhook.purge"]
    details = json.loads(purge.entry)["details"]
    assert details["deleted"] == 2
    assert details["older_than"] == (clock.now() - timedelta(days=30)).isoformat()
    clock.advance(days=365)
    assert _purge_finished(components) == 0  # a pending delivery is never purged
