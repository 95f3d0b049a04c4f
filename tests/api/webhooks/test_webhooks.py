"""Webhooks through HTTP, delivered to a real local HTTP receiver by the delivery job.

The delivery job is called directly (ESCROW_WEBHOOK_INTERVAL=0 keeps the schedule off) and
time is the FrozenClock's, so backoff schedules are exact and nothing sleeps.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from secrets import token_urlsafe
from typing import Any, get_args

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from escrow.app import webhook_deliveries
from escrow.clock import FrozenClock
from escrow.components import Components
from escrow.config import load_settings
from escrow.errors import ConfigError, ConflictError
from escrow.keys.service import KekRotation
from escrow.webhooks import delivery, signing
from escrow.webhooks import secrets as webhook_secrets
from escrow.webhooks.attempt import Outcome, send, tls_context
from escrow.webhooks.destinations import address_allowed
from escrow.webhooks.events import EVENT_TYPES
from escrow.webhooks.schemas import EventType
from storage.models import AuditEvent, AuditSecret, WebhookDelivery, WebhookSecret
from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.audit import log_session
from tests.fixtures.datasets import create_dataset, deposit
from tests.fixtures.webhook_receiver import WebhookReceiver, running_receiver, verify_signature

CSV = b"region,amount\nEU,10\nUS,20\n"
BASE, CAP, MAX_ATTEMPTS = 60, 200, 4


@pytest.fixture
def settings_env(settings_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **settings_env,
        # A keyring of its own: a test here rotates and retires KEKs.
        "ESCROW_KEYRING": str(tmp_path / "keys" / "keyring.json"),
        "ESCROW_WEBHOOK_INTERVAL": "0",  # the tests run the job themselves
        "ESCROW_WEBHOOK_ALLOW_HTTP": "true",
        "ESCROW_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "ESCROW_WEBHOOK_BACKOFF_SECONDS": str(BASE),
        "ESCROW_WEBHOOK_BACKOFF_MAX_SECONDS": str(CAP),
        "ESCROW_WEBHOOK_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        "ESCROW_WEBHOOK_TIMEOUT": "5",
    }


@pytest.fixture
def components(components: Components) -> Components:
    """Backoff without jitter (a draw of 0 takes nothing off), so schedules are exact;
    test_backoff_jitter_stays_within_its_bounds draws other values."""
    components.random = lambda: 0.0
    return components


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver() as running:
        yield running


class Parties:
    """Acme (owner) and Globex (partner) across a partnership; Initech, an outsider."""

    def __init__(self, eco: Ecosystem) -> None:
        eco.org("acme", "strategic")
        eco.org("globex", "strategic")
        eco.org("initech", "core")
        eco.partnership("acme", "globex")
        self.eco = eco
        self.admin = eco.principal("acme", "admin")
        self.steward = eco.principal("acme", "steward")
        self.auditor = eco.principal("acme", "auditor")
        self.partner_admin = eco.principal("globex", "admin")
        self.outsider = eco.principal("initech", "admin")
        self.operator = eco.operator

    def register(self, caller: Caller, org: str, url: str, **body: Any) -> dict[str, Any]:
        response = caller.post(f"/v1/orgs/{org}/webhooks", json={"url": url, **body})
        assert response.status_code == 201, response.text
        return dict(response.json())


@pytest.fixture
def parties(eco: Ecosystem) -> Parties:
    return Parties(eco)


def _hook(org: str, webhook: dict[str, Any]) -> str:
    return f"/v1/orgs/{org}/webhooks/{webhook['id']}"


def _ping(caller: Caller, org: str, webhook: dict[str, Any]) -> dict[str, Any]:
    response = caller.post(_hook(org, webhook) + "/ping")
    assert response.status_code == 202, response.text
    return dict(response.json())


def _deliveries(caller: Caller, org: str, webhook: dict[str, Any], **params: Any) -> Any:
    response = caller.get(_hook(org, webhook) + "/deliveries", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def _now(clock: FrozenClock) -> int:
    return int(clock.now().timestamp())


def _counter(result: str) -> float:
    return REGISTRY.get_sample_value("escrow_webhook_deliveries_total", {"result": result}) or 0


def _events(components: Components) -> list[AuditEvent]:
    with log_session(components) as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# ---------------------------------------------------------------------------- endpoints


def test_admin_registers_reads_changes_and_deletes_an_endpoint(
    parties: Parties, receiver: WebhookReceiver, components: Components
) -> None:
    created = parties.register(parties.admin, "acme", receiver.url, description="ops")
    assert created["secret"].startswith("whsec_") and created["enabled"] is True
    assert created["events"] == sorted(EVENT_TYPES) and created["org"] == "acme"
    url = _hook("acme", created)
    read = parties.admin.get(url).json()
    assert "secret" not in read and created["secret"] not in json.dumps(read)
    listed = parties.admin.get("/v1/orgs/acme/webhooks").json()
    assert [w["id"] for w in listed["items"]] == [created["id"]]
    assert created["secret"] not in json.dumps(listed)
    changed = parties.admin.patch(
        url, json={"events": ["agreement.released"], "enabled": False, "description": "x"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["events"] == ["agreement.released"]
    assert changed.json()["enabled"] is False and changed.json()["description"] == "x"
    assert parties.admin.delete(url).status_code == 204
    assert parties.admin.get(url).status_code == 404
    assert parties.admin.get("/v1/orgs/acme/webhooks").json()["items"] == []
    with components.db.session() as session:  # its secret is erased with it
        assert session.scalars(select(WebhookSecret)).all() == []
    actions = [e.action for e in _events(components) if e.resource_type == "webhook_endpoint"]
    assert actions == ["webhook.create", "webhook.update", "webhook.delete"]


def test_other_tenants_get_404_and_non_admins_403(
    parties: Parties, receiver: WebhookReceiver, components: Components
) -> None:
    webhook = parties.register(parties.admin, "acme", receiver.url)
    item = _hook("acme", webhook)
    for attempt in (
        parties.outsider.get("/v1/orgs/acme/webhooks"),
        parties.outsider.post("/v1/orgs/acme/webhooks", json={"url": receiver.url}),
        parties.outsider.get(item),
        parties.outsider.delete(item),
        parties.outsider.get(item + "/deliveries"),
    ):
        assert attempt.status_code == 404, attempt.text
    # Initech's own admin cannot reach Acme's endpoint through Initech's path either.
    assert parties.outsider.get(f"/v1/orgs/initech/webhooks/{webhook['id']}").status_code == 404
    for caller in (parties.steward, parties.auditor, parties.partner_admin):
        assert caller.get("/v1/orgs/acme/webhooks").status_code == 403
        assert caller.post(item + "/rotate-secret").status_code == 403
    assert parties.operator.get(item).status_code == 200  # operators help, and may disable
    assert parties.operator.patch(item, json={"enabled": False}).status_code == 200
    denied = [
        e
        for e in _events(components)
        if e.outcome == "denied" and e.action != "authz.concealed_target"
    ]
    assert {e.action for e in denied} >= {"read_webhooks", "manage_webhooks"}
    assert len(denied) == 5 + 6  # the lookup under Initech's own path is no denial


def test_urls_are_checked_so_webhooks_cannot_reach_internal_networks(
    parties: Parties, components: Components, receiver: WebhookReceiver
) -> None:
    strict = dataclasses.replace(
        components.settings.webhooks, allow_http=False, allow_private_networks=False
    )
    components.settings = dataclasses.replace(components.settings, webhooks=strict)
    refused = {
        "http://hooks.example.com/x": "https",
        "https://127.0.0.1/x": "127.0.0.1",
        "https://localhost:8443/x": "loopback",
        "https://10.1.2.3/x": "10.1.2.3",
        "https://169.254.169.254/latest/meta-data": "169.254.169.254",
        "https://100.64.0.7/x": "100.64.0.7",
        "https://[::1]/x": "::1",
        "https://[::ffff:127.0.0.1]/x": "::ffff:127.0.0.1",
        "https://[64:ff9b::a00:1]/x": "64:ff9b::a00:1",
        "https://[fe80::1]/x": "fe80::1",
        "https://0.0.0.0/x": "0.0.0.0",  # noqa: S104 - a URL refused, not a bind
        "https://user:pw@hooks.example.com/x": "credentials",
        "https://hooks.example.com/x#frag": "fragment",
        "https://nonexistent.invalid/x": "does not resolve",
        "ftp://hooks.example.com/x": "https",
        "https:///nohost": "host",
        "https://hooks.example.com:99999/x": "port",
    }
    for url, reason in refused.items():
        response = parties.admin.post("/v1/orgs/acme/webhooks", json={"url": url})
        assert response.status_code == 422, (url, response.text)
        problem = response.json()
        assert problem["type"].endswith("/validation-error") and problem["field"] == "url"
        assert reason in problem["detail"], (url, problem["detail"])
    # Registered while allowed, then the setting is tightened: the attempt is refused
    # before any connection is made, and the failure is recorded.
    relaxed = dataclasses.replace(strict, allow_http=True, allow_private_networks=True)
    components.settings = dataclasses.replace(components.settings, webhooks=relaxed)
    webhook = parties.register(parties.admin, "acme", receiver.url)
    _ping(parties.admin, "acme", webhook)
    components.settings = dataclasses.replace(
        components.settings, webhooks=dataclasses.replace(relaxed, allow_private_networks=False)
    )
    assert webhook_deliveries(components).deliver_due() == 1
    assert receiver.received == []
    [failed] = _deliveries(parties.admin, "acme", webhook)
    assert failed["status"] == "pending" and "127.0.0.1" in failed["last_error"]
    assert failed["attempts"][0]["outcome"] == "failed"


def test_bodies_are_validated(parties: Parties, receiver: WebhookReceiver) -> None:
    post = parties.admin.post
    assert (
        post("/v1/orgs/acme/webhooks", json={"url": receiver.url, "events": []}).status_code == 422
    )
    unknown_event = {"url": receiver.url, "events": ["agreement.eaten"]}
    assert post("/v1/orgs/acme/webhooks", json=unknown_event).status_code == 400
    assert post("/v1/orgs/acme/webhooks", json={"url": receiver.url, "x": 1}).status_code == 400
    assert post("/v1/orgs/acme/webhooks", json={"url": "a" * 3000}).status_code == 422
    webhook = parties.register(parties.admin, "acme", receiver.url)
    item = _hook("acme", webhook)
    assert post(item + "/rotate-secret", json={"grace_seconds": -1}).status_code == 422
    assert post(item + "/rotate-secret", json={"grace_seconds": 10**9}).status_code == 422
    assert parties.admin.get(item + "/deliveries", params={"status": "lost"}).status_code == 400
    bad_cursor = parties.admin.get(item + "/deliveries", params={"cursor": "A"})
    assert bad_cursor.status_code == 422
    assert parties.admin.get("/v1/orgs/acme/webhooks/nope").status_code == 404
    assert parties.admin.get(item + "/deliveries/nope").status_code == 404
    assert post(item + "/deliveries/nope/redeliver").status_code == 404
    pending = _ping(parties.admin, "acme", webhook)
    again = post(item + f"/deliveries/{pending['id']}/redeliver")
    assert again.status_code == 409 and again.json()["type"].endswith("/invalid-state")
    for n in range(9):
        parties.register(parties.admin, "acme", receiver.url, description=str(n))
    assert post("/v1/orgs/acme/webhooks", json={"url": receiver.url}).status_code == 409


def test_event_catalogue_and_schema_agree() -> None:
    assert set(get_args(EventType)) == set(EVENT_TYPES)


# ---------------------------------------------------------------------------- delivery


def test_a_delivery_is_signed_so_the_receiver_can_verify_it(
    parties: Parties, receiver: WebhookReceiver, components: Components, clock: FrozenClock
) -> None:
    webhook = parties.register(parties.admin, "acme", receiver.url)
    before = _counter("delivered")
    queued = _ping(parties.admin, "acme", webhook)
    assert queued["status"] == "pending" and queued["event_type"] == "ping"
    assert webhook_deliveries(components).deliver_due() == 1
    [got] = receiver.received
    assert got.path == "/hooks" and got.header("content-type") == "application/json"
    assert verify_signature(got, webhook["secret"], _now(clock))
    assert not verify_signature(
        dataclasses.replace(got, body=got.body + b" "), webhook["secret"], _now(clock)
    )
    assert not verify_signature(got, signing.new_secret(), _now(clock))
    stale = _now(clock) + 301
    assert not verify_signature(got, webhook["secret"], stale)
    # Standard Webhooks: the id signed is the event id, stable across retries.
    assert got.header("webhook-id") == queued["event_id"]
    assert got.header("webhook-timestamp") == str(_now(clock))
    event = got.event
    assert event["type"] == "ping" and event["org"] == "acme"
    assert event["data"] == {"webhook": {"id": webhook["id"]}}
    assert got.header("escrow-event-id") == event["id"] == queued["event_id"]
    assert got.header("escrow-event-type") == "ping"
    assert got.header("escrow-delivery-id") == queued["id"]
    assert got.header("escrow-delivery-attempt") == "1"
    assert _at(event["occurred_at"]) == clock.now()
    [listed] = _deliveries(parties.admin, "acme", webhook)
    assert listed["status"] == "delivered" and listed["last_status_code"] == 200
    assert [a["outcome"] for a in listed["attempts"]] == ["delivered"]
    detail = parties.admin.get(_hook("acme", webhook) + f"/deliveries/{queued['id']}").json()
    assert detail["payload"] == event
    assert _counter("delivered") == before + 1
    [audited] = [e for e in _events(components) if e.action == "webhook.deliver"]
    assert audited.outcome == "success" and audited.resource_id == queued["id"]
    assert webhook_deliveries(components).deliver_due() == 0  # delivered once, not again


def test_rotation_signs_with_both_secrets_during_the_grace_period(
    parties: Parties,
    receiver: WebhookReceiver,
    components: Components,
    clock: FrozenClock,
    eco: Ecosystem,
) -> None:
    webhook = parties.register(parties.admin, "acme", receiver.url)
    old = webhook["secret"]
    url = _hook("acme", webhook)
    rotated = parties.admin.post(url + "/rotate-secret", json={"grace_seconds": 3600})
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old and new.startswith("whsec_")
    grace_end = _at(rotated.json()["previous_secret_expires_at"])
    assert grace_end == clock.now() + timedelta(hours=1)
    assert _at(parties.admin.get(url).json()["previous_secret_expires_at"]) == grace_end
    _ping(parties.admin, "acme", webhook)
    webhook_deliveries(components).deliver_due()
    signed = receiver.received[-1]
    header = signed.header("webhook-signature")
    assert len(header.split(" ")) == 2 and header.count("v1,") == 2
    for secret in (old, new):
        assert verify_signature(signed, secret, _now(clock))
    eco.advance(clock, seconds=3601)
    webhook_deliveries(components).run()  # erases the expired secret
    assert parties.admin.get(url).json()["previous_secret_expires_at"] is None
    _ping(parties.admin, "acme", webhook)
    webhook_deliveries(components).deliver_due()
    after = receiver.received[-1]
    assert after.header("webhook-signature").count("v1,") == 1
    assert verify_signature(after, new, _now(clock))
    assert not verify_signature(after, old, _now(clock))
    immediate = parties.admin.post(url + "/rotate-secret", json={"grace_seconds": 0}).json()
    assert immediate["previous_secret_expires_at"] is None
    with components.db.session() as session:
        assert len(session.scalars(select(WebhookSecret)).all()) == 1
    # No secret, in any form, reaches the audit log or its erasable plaintexts.
    with log_session(components) as session:
        plaintexts = [s.value for s in session.scalars(select(AuditSecret))]
    entries = [e.entry for e in _events(components)]
    for secret in (old, new, immediate["secret"]):
        assert all(secret not in text for text in entries + plaintexts)
    assert receiver.url not in "".join(entries)  # the URL is there only as a keyed digest


def test_secrets_are_sealed_at_rest_and_survive_kek_rotation(
    parties: Parties, receiver: WebhookReceiver, components: Components, clock: FrozenClock
) -> None:
    webhook = parties.register(parties.admin, "acme", receiver.url)
    with components.db.session() as session:
        [row] = session.scalars(select(WebhookSecret)).all()
    assert webhook["secret"] not in row.ciphertext + row.wrapped_dek
    old_kek = row.kek_id
    keks = KekRotation(components.db, components.keyring, components.audit)
    with pytest.raises(ConflictError, match="webhook secrets"):
        keks.retire(old_kek)
    rotation = keks.rotate()
    assert rotation.rewrapped == 1
    with components.db.session() as session:
        assert session.scalars(select(WebhookSecret.kek_id)).all() == [rotation.new_kek_id]
    keks.retire(old_kek)
    _ping(parties.admin, "acme", webhook)
    webhook_deliveries(components).deliver_due()
    [got] = receiver.received
    assert verify_signature(got, webhook["secret"], _now(clock))


def test_failures_back_off_exponentially_then_the_delivery_is_dead(
    parties: Parties, receiver: WebhookReceiver, components: Components, clock: FrozenClock
) -> None:
    receiver.script = [500, 503, 500, 502]
    webhook = parties.register(parties.admin, "acme", receiver.url)
    queued = _ping(parties.admin, "acme", webhook)
    failed, dead = _counter("failed"), _counter("dead")
    start = clock.now()
    expected_waits = [BASE, 2 * BASE, CAP]  # 60, 120, then 240 capped at 200
    for wait in expected_waits:
        assert webhook_deliveries(components).deliver_due() == 1
        [row] = _deliveries(parties.admin, "acme", webhook)
        assert row["status"] == "pending"
        assert _at(row["next_attempt_at"]) == clock.now() + timedelta(seconds=wait)
        clock.advance(seconds=wait - 1)
        assert webhook_deliveries(components).deliver_due() == 0  # not due a second early
        clock.advance(seconds=1)
    assert webhook_deliveries(components).deliver_due() == 1
    [row] = _deliveries(parties.admin, "acme", webhook)
    assert row["status"] == "dead" and row["next_attempt_at"] is None
    assert row["attempt_count"] == MAX_ATTEMPTS and row["last_status_code"] == 502
    assert [a["outcome"] for a in row["attempts"]] == ["failed", "failed", "failed", "dead"]
    assert [a["status_code"] for a in row["attempts"]] == [500, 503, 500, 502]
    starts = [_at(a["started_at"]) for a in row["attempts"]]
    assert [int((s - start).total_seconds()) for s in starts] == [0, 60, 180, 380]
    assert _counter("failed") == failed + 3 and _counter("dead") == dead + 1
    parties.eco.advance(clock, days=1)  # fresh tokens for the calls below
    assert webhook_deliveries(components).deliver_due() == 0
    audited = [e for e in _events(components) if e.action == "webhook.deliver"]
    assert [(e.outcome, e.reason) for e in audited] == [
        ("failed", "http_500"),
        ("failed", "http_503"),
        ("failed", "http_500"),
        ("failed", "http_502"),
    ]
    assert json.loads(audited[-1].entry)["details"]["result"] == "dead"
    # Redelivery: the same event (same id and body) as a new delivery, due at once.
    again = parties.admin.post(_hook("acme", webhook) + f"/deliveries/{queued['id']}/redeliver")
    assert again.status_code == 202, again.text
    copy = again.json()
    assert copy["redelivery_of"] == queued["id"] and copy["event_id"] == queued["event_id"]
    assert webhook_deliveries(components).deliver_due() == 1
    assert len(receiver.received) == 5
    first, last = receiver.received[0], receiver.received[-1]
    assert last.body == first.body and last.header("escrow-delivery-id") == copy["id"]
    assert _deliveries(parties.admin, "acme", webhook, status="delivered")[0]["id"] == copy["id"]
    assert [d["id"] for d in _deliveries(parties.admin, "acme", webhook, status="dead")] == [
        queued["id"]
    ]


def test_a_receiver_that_fails_twice_then_succeeds_gets_the_event_once(
    parties: Parties, receiver: WebhookReceiver, components: Components, clock: FrozenClock
) -> None:
    receiver.script = [500, 500]
    webhook = parties.register(parties.admin, "acme", receiver.url)
    _ping(parties.admin, "acme", webhook)
    for wait in (BASE, 2 * BASE, 0):
        webhook_deliveries(components).deliver_due()
        clock.advance(seconds=wait)
    [row] = _deliveries(parties.admin, "acme", webhook)
    assert row["status"] == "delivered" and row["attempt_count"] == 3
    assert [a["status_code"] for a in row["attempts"]] == [500, 500, 200]
    assert [r.answered for r in receiver.received] == [500, 500, 200]
    assert len({r.header("escrow-event-id") for r in receiver.received}) == 1
    assert [r.header("escrow-delivery-attempt") for r in receiver.received] == ["1", "2", "3"]
    clock.advance(days=1)
    assert webhook_deliveries(components).deliver_due() == 0


def test_a_failing_receiver_gets_one_request_per_run_not_a_burst(
    parties: Parties, receiver: WebhookReceiver, components: Components, clock: FrozenClock
) -> None:
    receiver.script = [503]
    webhook = parties.register(parties.admin, "acme", receiver.url)
    first, *others = [_ping(parties.admin, "acme", webhook)["id"] for _ in range(3)]
    assert webhook_deliveries(components).deliver_due() == 1
    assert len(receiver.received) == 1
    rows = {d["id"]: d for d in _deliveries(parties.admin, "acme", webhook)}
    assert rows[first]["attempt_count"] == 1 and rows[first]["attempts"][0]["status_code"] == 503
    for put_back in others:  # untried: no attempt counted, due after the first backoff
        assert rows[put_back]["attempt_count"] == 0 and rows[put_back]["attempts"] == []
        assert _at(rows[put_back]["next_attempt_at"]) == clock.now() + timedelta(seconds=BASE)
    clock.advance(seconds=BASE)
    assert webhook_deliveries(components).deliver_due() == 3
    delivered = _deliveries(parties.admin, "acme", webhook, status="delivered")
    assert {d["id"] for d in delivered} == {first, *others}


def test_redirects_are_not_followed(
    parties: Parties, receiver: WebhookReceiver, components: Components
) -> None:
    receiver.script = [302]
    webhook = parties.register(parties.admin, "acme", receiver.url)
    _ping(parties.admin, "acme", webhook)
    webhook_deliveries(components).deliver_due()
    assert [r.path for r in receiver.received] == ["/hooks"]
    [row] = _deliveries(parties.admin, "acme", webhook)
    assert row["status"] == "pending" and row["last_status_code"] == 302
    assert "redirect" in row["last_error"]


def test_no_database_lock_is_held_while_the_receiver_answers(
    parties: Parties, receiver: WebhookReceiver, components: Components
) -> None:
    """While the POST is in flight another transaction can lock the delivery row and write
    to the audit log, so the claim's transaction is closed before the network wait."""
    seen: list[str] = []

    def meanwhile(_received: object) -> None:
        with log_session(components) as session:
            row = session.scalars(
                select(WebhookDelivery).with_for_update(nowait=True)
            ).one()  # raises if the sender still held the row's lock
            seen.append(row.status)
            session.execute(select(AuditEvent.seq).limit(1))
            session.rollback()

    receiver.on_request = meanwhile
    webhook = parties.register(parties.admin, "acme", receiver.url)
    _ping(parties.admin, "acme", webhook)
    webhook_deliveries(components).deliver_due()
    assert seen == ["pending"]
    assert _deliveries(parties.admin, "acme", webhook)[0]["status"] == "delivered"


def test_claims_skip_locked_rows_and_a_lost_claim_is_retried_after_its_lease(
    parties: Parties, receiver: WebhookReceiver, components: Components, clock: FrozenClock
) -> None:
    webhook = parties.register(parties.admin, "acme", receiver.url)
    first = _ping(parties.admin, "acme", webhook)
    second = _ping(parties.admin, "acme", webhook)
    deliveries = webhook_deliveries(components)
    with components.db.session() as other:  # another replica holds the first row
        other.scalars(
            select(WebhookDelivery).where(WebhookDelivery.id == first["id"]).with_for_update()
        ).one()
        claimed = deliveries.claim(10)
        other.rollback()
    assert [c.delivery_id for c in claimed] == [second["id"]]
    # This run dies before sending: the row is retried once its lease is over.
    assert deliveries.claim(10)[0].delivery_id == first["id"]
    assert deliveries.claim(10) == []
    clock.advance(seconds=delivery.lease(components.settings.webhooks).total_seconds())
    retried = deliveries.claim(10)
    assert {c.delivery_id for c in retried} == {first["id"], second["id"]}
    stale = claimed[0]
    outcome = send(components.keyring, clock, components.settings.webhooks, tls_context(), stale)
    assert deliveries.record(stale, outcome) is None  # no longer that run's
    for current in retried:
        deliveries.record(current, Outcome(clock.now(), 1, 200))
    statuses = {d["id"]: d["status"] for d in _deliveries(parties.admin, "acme", webhook)}
    assert statuses == {first["id"]: "delivered", second["id"]: "delivered"}


def test_a_disabled_endpoint_holds_its_queue_and_deleting_cancels_it(
    parties: Parties, receiver: WebhookReceiver, components: Components
) -> None:
    webhook = parties.register(parties.admin, "acme", receiver.url)
    item = _hook("acme", webhook)
    queued = _ping(parties.admin, "acme", webhook)
    parties.admin.patch(item, json={"enabled": False})
    assert webhook_deliveries(components).deliver_due() == 0
    assert parties.admin.post(item + "/ping").status_code == 409
    parties.admin.patch(item, json={"enabled": True})
    assert webhook_deliveries(components).deliver_due() == 1
    assert [r.header("escrow-delivery-id") for r in receiver.received] == [queued["id"]]
    waiting = _ping(parties.admin, "acme", webhook)
    assert parties.admin.delete(item).status_code == 204
    with components.db.session() as session:
        cancelled = session.get(WebhookDelivery, waiting["id"])
        assert cancelled is not None and cancelled.status == "cancelled"
    assert webhook_deliveries(components).deliver_due() == 0


def test_a_suspended_organization_receives_nothing_until_reactivated(
    parties: Parties, receiver: WebhookReceiver, components: Components
) -> None:
    webhook = parties.register(parties.admin, "acme", receiver.url)
    queued = _ping(parties.admin, "acme", webhook)
    assert parties.operator.post("/v1/orgs/acme/suspend").status_code == 200
    assert webhook_deliveries(components).deliver_due() == 0
    assert parties.operator.post(_hook("acme", webhook) + "/ping").status_code == 409
    assert receiver.received == []
    assert parties.operator.post("/v1/orgs/acme/reactivate").status_code == 200
    assert webhook_deliveries(components).deliver_due() == 1
    assert [r.header("escrow-delivery-id") for r in receiver.received] == [queued["id"]]


def test_deliveries_are_listed_newest_first_page_by_page(
    parties: Parties, receiver: WebhookReceiver, components: Components
) -> None:
    webhook = parties.register(parties.admin, "acme", receiver.url)
    ids = [_ping(parties.admin, "acme", webhook)["id"] for _ in range(5)]
    url = _hook("acme", webhook) + "/deliveries"
    page = parties.admin.get(url, params={"limit": 2}).json()
    assert [d["id"] for d in page["items"]] == ids[::-1][:2]
    rest = parties.admin.get(url, params={"limit": 10, "cursor": page["next_cursor"]}).json()
    assert [d["id"] for d in rest["items"]] == ids[::-1][2:] and rest["next_cursor"] is None
    assert parties.operator.get(url).status_code == 200
    webhook_deliveries(components).deliver_due()
    assert len(_deliveries(parties.admin, "acme", webhook, status="delivered")) == 5
    assert _deliveries(parties.admin, "acme", webhook, status="pending") == []


# ---------------------------------------------------------------------------- events


class Deal:
    """Endpoints for Acme, Globex and Initech; a dataset of Acme's with one version."""

    def __init__(self, parties: Parties, receivers: dict[str, WebhookReceiver]) -> None:
        self.parties = parties
        self.receivers = receivers
        self.hooks = {
            "acme": parties.register(parties.admin, "acme", receivers["acme"].url),
            "globex": parties.register(parties.partner_admin, "globex", receivers["globex"].url),
            "initech": parties.register(parties.outsider, "initech", receivers["initech"].url),
        }
        self.dataset = create_dataset(parties.steward, "q3-sales")
        assert deposit(parties.steward, self.dataset["id"], CSV).status_code == 201

    def propose(self, **terms: Any) -> dict[str, Any]:
        body = {
            "beneficiary": "globex",
            "purpose": "demand planning",
            "approvals": {"required": 1, "from": ["owner:steward"]},
            **terms,
        }
        response = self.parties.steward.post(
            f"/v1/datasets/{self.dataset['id']}/agreements", json=body
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def approve(self, agreement: dict[str, Any], caller: Caller | None = None) -> None:
        response = (caller or self.parties.steward).post(
            f"/v1/agreements/{agreement['id']}/approvals", json={"decision": "approve"}
        )
        assert response.status_code == 201, response.text

    def events(self, org: str) -> list[dict[str, Any]]:
        return [r.event for r in self.receivers[org].received]

    def types(self, org: str) -> list[str]:
        return [e["type"] for e in self.events(org)]


@pytest.fixture
def deal(parties: Parties) -> Iterator[Deal]:
    with (
        running_receiver() as acme,
        running_receiver() as globex,
        running_receiver() as initech,
    ):
        yield Deal(parties, {"acme": acme, "globex": globex, "initech": initech})


def test_deposits_reach_the_owner_and_organizations_the_data_is_released_to(
    deal: Deal, components: Components
) -> None:
    webhook_deliveries(components).deliver_due()
    [owner_event] = deal.events("acme")
    assert owner_event["type"] == "dataset.deposit_received" and owner_event["org"] == "acme"
    assert owner_event["data"]["dataset"]["id"] == deal.dataset["id"]
    assert owner_event["data"]["version"]["number"] == 1
    assert owner_event["data"]["version"]["href"].endswith("/versions/1")
    assert owner_event["data"]["relation"] == "owner"
    assert deal.events("globex") == []  # nothing is released to Globex yet
    deal.approve(deal.propose(approvals={"required": 1, "from": ["owner:steward"]}))
    assert deposit(deal.parties.steward, deal.dataset["id"], CSV + b"FR,5\n").status_code == 201
    webhook_deliveries(components).deliver_due()
    assert deal.types("globex")[-1] == "dataset.deposit_received"
    beneficiary_event = deal.events("globex")[-1]
    assert beneficiary_event["org"] == "globex"
    assert beneficiary_event["data"]["relation"] == "beneficiary"
    assert beneficiary_event["data"]["version"]["number"] == 2
    assert deal.events("initech") == []
    for org in ("acme", "globex"):  # identifiers only: no content, no purpose
        for received in deal.receivers[org].received:
            assert b"EU,10" not in received.body and b"demand planning" not in received.body


def test_agreement_events_reach_the_organizations_they_concern(
    deal: Deal, components: Components
) -> None:
    agreement = deal.propose(
        approvals={"required": 2, "from": ["owner:steward", "beneficiary:admin"]}
    )
    webhook_deliveries(components).deliver_due()
    for org, spec in (("acme", "owner:steward"), ("globex", "beneficiary:admin")):
        event = deal.events(org)[-1]
        assert event["type"] == "agreement.awaiting_approval"
        assert event["data"]["agreement"]["id"] == agreement["id"]
        assert event["data"]["agreement"]["href"] == f"/v1/agreements/{agreement['id']}"
        assert event["data"]["approval"] == {"required": 2, "as": [spec]}
    deal.approve(agreement)
    deal.approve(agreement, deal.parties.partner_admin)
    webhook_deliveries(components).deliver_due()
    for org, relation in (("acme", "owner"), ("globex", "beneficiary")):
        event = deal.events(org)[-1]
        assert event["type"] == "agreement.released" and event["data"]["relation"] == relation
        assert event["data"]["agreement"]["state"] == "released"
        assert event["data"]["agreement"]["owner"] == "acme"
        assert event["data"]["agreement"]["beneficiary"] == "globex"
    revoked = deal.parties.steward.post(
        f"/v1/agreements/{agreement['id']}/revoke", json={"reason": "contract ended"}
    )
    assert revoked.status_code == 200, revoked.text
    webhook_deliveries(components).deliver_due()
    for org in ("acme", "globex"):
        event = deal.events(org)[-1]
        assert event["type"] == "agreement.revoked"
        assert event["data"]["agreement"]["ended_by"] == "owner"
        assert event["data"]["agreement"]["state"] == "revoked"
    terminated_deal = deal.propose(approvals={"required": 1, "from": ["owner:steward"]})
    deal.approve(terminated_deal)
    ended = deal.parties.partner_admin.post(
        f"/v1/agreements/{terminated_deal['id']}/terminate", json={"reason": "no longer needed"}
    )
    assert ended.status_code == 200, ended.text
    webhook_deliveries(components).deliver_due()
    assert deal.types("acme")[-2:] == ["agreement.released", "agreement.revoked"]  # in order
    assert deal.events("acme")[-1]["data"]["agreement"]["ended_by"] == "beneficiary"
    assert deal.events("initech") == []
    # The same event id for every endpoint of one organization; distinct per organization.
    ids = {org: [e["id"] for e in deal.events(org)] for org in ("acme", "globex")}
    assert not set(ids["acme"]) & set(ids["globex"])


def test_endpoints_receive_only_the_events_they_subscribe_to(
    deal: Deal, components: Components
) -> None:
    item = _hook("globex", deal.hooks["globex"])
    patched = deal.parties.partner_admin.patch(item, json={"events": ["agreement.released"]})
    assert patched.status_code == 200
    agreement = deal.propose(approvals={"required": 1, "from": ["beneficiary:admin"]})
    deal.approve(agreement, deal.parties.partner_admin)
    webhook_deliveries(components).deliver_due()
    assert deal.types("globex") == ["agreement.released"]


def test_expiry_is_announced_once_seven_days_ahead(
    deal: Deal, components: Components, clock: FrozenClock, eco: Ecosystem
) -> None:
    expires = clock.now() + timedelta(days=10)
    agreement = deal.propose(expires_at=expires.isoformat())
    deal.approve(agreement)
    webhook_deliveries(components).run()
    assert "agreement.expiring" not in deal.types("acme")
    eco.advance(clock, days=3, seconds=-1)
    webhook_deliveries(components).run()
    assert "agreement.expiring" not in deal.types("acme")
    eco.advance(clock, seconds=1)
    webhook_deliveries(components).run()
    webhook_deliveries(components).run()
    eco.advance(clock, days=1)
    webhook_deliveries(components).run()
    for org in ("acme", "globex"):
        expiring = [e for e in deal.events(org) if e["type"] == "agreement.expiring"]
        assert len(expiring) == 1
        assert _at(expiring[0]["data"]["agreement"]["expires_at"]) == expires
    announced = [e for e in _events(components) if e.action == "agreement.expiring"]
    assert [e.resource_id for e in announced] == [agreement["id"]]
    assert "agreement.expiring" not in deal.types("initech")


def test_nothing_is_queued_when_no_endpoint_listens(
    parties: Parties, components: Components, clock: FrozenClock, eco: Ecosystem
) -> None:
    dataset = create_dataset(parties.steward, "q4")
    assert deposit(parties.steward, dataset["id"], CSV).status_code == 201
    expiring = {
        "beneficiary": "globex",
        "purpose": "p",
        "approvals": {"required": 0, "from": ["owner:steward"]},
        "expires_at": (clock.now() + timedelta(days=2)).isoformat(),
    }
    created = parties.steward.post(f"/v1/datasets/{dataset['id']}/agreements", json=expiring)
    assert created.status_code == 201, created.text
    read = parties.steward.get(f"/v1/agreements/{created.json()['id']}")
    assert read.json()["state"] == "released"
    eco.advance(clock, hours=1)
    webhook_deliveries(components).run()
    with components.db.session() as session:
        assert session.scalars(select(WebhookDelivery)).all() == []
    assert not [e for e in _events(components) if e.action == "agreement.expiring"]


# ---------------------------------------------------------------------------- pure rules


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("64:ff9b::808:808", True),  # NAT64 of a public address
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.169.254", False),  # cloud metadata
        ("192.0.2.1", False),  # documentation
        ("224.0.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address refused, not a bind
        ("::1", False),
        ("fc00::1", False),
        ("fe80::1", False),
        ("::ffff:10.0.0.1", False),  # IPv4-mapped
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
    ],
)
def test_only_globally_routable_addresses_are_reachable(address: str, allowed: bool) -> None:
    assert address_allowed(ip_address(address), allow_private=False) is allowed


def test_allowing_private_networks_still_refuses_unspecified_and_multicast() -> None:
    assert address_allowed(ip_address("127.0.0.1"), allow_private=True)
    assert address_allowed(ip_address("10.1.2.3"), allow_private=True)
    assert not address_allowed(ip_address("224.0.0.1"), allow_private=True)
    assert not address_allowed(ip_address("::"), allow_private=True)


def test_webhook_settings_are_validated(settings_env: dict[str, str]) -> None:
    policy = load_settings(settings_env).webhooks
    assert (policy.backoff_seconds, policy.backoff_max_seconds) == (BASE, CAP)
    assert [delivery.backoff(policy, n, 0.0).total_seconds() for n in (1, 2, 3, 40)] == [
        60,
        120,
        200,
        200,
    ]
    for name, value in (
        ("ESCROW_WEBHOOK_BACKOFF_MAX_SECONDS", "10"),
        ("ESCROW_WEBHOOK_MAX_ATTEMPTS", "0"),
        ("ESCROW_WEBHOOK_MAX_ATTEMPTS", "51"),
        ("ESCROW_WEBHOOK_TIMEOUT", "61"),
        ("ESCROW_WEBHOOK_ALLOW_HTTP", "maybe"),
        ("ESCROW_WEBHOOK_INTERVAL", "-1"),
    ):
        with pytest.raises(ConfigError, match=name):
            load_settings({**settings_env, name: value})


def test_a_secret_issued_before_standard_webhooks_keeps_its_key_until_rotated(
    parties: Parties, receiver: WebhookReceiver, components: Components, clock: FrozenClock
) -> None:
    """Issue 19: endpoints registered earlier hold ``whsec_`` + base64url text, which always
    signed as its UTF-8 bytes; receivers keep that key, and a rotation brings the new form."""
    webhook = parties.register(parties.admin, "acme", receiver.url)
    legacy = "whsec_" + token_urlsafe(32)  # the form issued before Standard Webhooks
    with components.db.session() as session:
        webhook_secrets.erase_all(session, webhook["id"])
        webhook_secrets.store(
            session, components.keyring, components.new_id, webhook["id"], clock.now(), legacy
        )
        session.commit()
    _ping(parties.admin, "acme", webhook)
    webhook_deliveries(components).deliver_due()
    assert verify_signature(receiver.received[-1], legacy.encode(), _now(clock))
    url = _hook("acme", webhook) + "/rotate-secret"
    rotated = parties.admin.post(url, json={"grace_seconds": 3600}).json()["secret"]
    assert len(base64.b64decode(rotated.removeprefix("whsec_"), validate=True)) == 32
    _ping(parties.admin, "acme", webhook)
    webhook_deliveries(components).deliver_due()
    during_grace = receiver.received[-1]
    assert verify_signature(during_grace, rotated, _now(clock))
    assert verify_signature(during_grace, legacy.encode(), _now(clock))
