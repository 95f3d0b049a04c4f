"""Webhook use cases through the service layer (no HTTP): registering an endpoint, the outbox
written with the audited change, delivery to a real local receiver, the failure budget.

The delivery job is called directly and time is the FrozenClock's: nothing sleeps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from escrow.app import webhook_deliveries
from escrow.audit.log import AuditRecord
from escrow.components import Components
from escrow.errors import ForbiddenError, InvalidStateError, NotFoundError, ValidationError
from escrow.webhooks.events import DEPOSIT_RECEIVED
from escrow.webhooks.results import Delivery
from escrow.wiring import webhook_service
from storage.models import AuditEvent, WebhookDelivery, WebhookEndpoint, WebhookSecret
from tests.fixtures.api import Caller
from tests.fixtures.audit import log_session
from tests.fixtures.datasets import Partners
from tests.fixtures.webhook_receiver import WebhookReceiver, running_receiver, verify_signature
from tests.unit.services.acting import audit_events, authenticated_as, context_of
from tests.unit.services.deposits import CSV, create, deposit


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {
        **settings_env,
        "ESCROW_WEBHOOK_INTERVAL": "0",  # the tests run the delivery job themselves
        "ESCROW_WEBHOOK_ALLOW_HTTP": "true",  # the receiver is plain HTTP on 127.0.0.1
        "ESCROW_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "ESCROW_WEBHOOK_MAX_ATTEMPTS": "1",  # one failure and a delivery is dead
        "ESCROW_WEBHOOK_DISABLE_AFTER_DEAD": "2",
    }


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver() as running:
        yield running


def register(components: Components, admin: Caller, url: str, events: list[str]) -> str:
    with authenticated_as(components, admin) as deps:
        created = webhook_service(components, deps).create("acme", url, "crm", events)
        return created.endpoint.id


def ping(components: Components, admin: Caller, endpoint_id: str) -> Delivery:
    with authenticated_as(components, admin) as deps:
        return webhook_service(components, deps).ping("acme", endpoint_id)


def test_the_secret_is_shown_once_and_neither_it_nor_the_url_enters_the_audit_log(
    partners: Partners, components: Components, receiver: WebhookReceiver
) -> None:
    url = receiver.url + "?token=hunter2"
    with authenticated_as(components, partners.admin) as deps:
        created = webhook_service(components, deps).create("acme", url, "crm", [DEPOSIT_RECEIVED])
    assert created.secret.secret.startswith("whsec_")
    assert created.secret.secret not in repr(created)  # nor logged with the result
    with components.db.session() as session:
        (sealed,) = session.scalars(select(WebhookSecret))
        assert created.secret.secret not in sealed.ciphertext
    (event,) = audit_events(components, "webhook.create")
    assert event.resource_id == created.endpoint.id and event.actor_id == partners.admin.id
    assert created.secret.secret not in event.entry and "hunter2" not in event.entry


def test_urls_that_reach_internal_networks_or_carry_credentials_are_refused(
    partners: Partners, components: Components
) -> None:
    webhooks = dataclasses.replace(
        components.settings.webhooks, allow_http=False, allow_private_networks=False
    )
    components.settings = dataclasses.replace(components.settings, webhooks=webhooks)
    for url in (
        "http://203.0.113.9/hooks",
        "https://10.0.0.5/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://user:pw@203.0.113.9/hooks",
    ):
        with authenticated_as(components, partners.admin) as deps, pytest.raises(ValidationError):
            webhook_service(components, deps).create("acme", url, "", [DEPOSIT_RECEIVED])
    with components.db.session() as session:
        assert list(session.scalars(select(WebhookEndpoint))) == []
    assert audit_events(components, "webhook.create") == []


def test_only_the_orgs_admins_manage_endpoints_and_outsiders_cannot_tell_it_has_any(
    partners: Partners, components: Components, receiver: WebhookReceiver
) -> None:
    endpoint_id = register(components, partners.admin, receiver.url, [DEPOSIT_RECEIVED])
    with authenticated_as(components, partners.member) as deps, pytest.raises(ForbiddenError):
        webhook_service(components, deps).create("acme", receiver.url, "", [DEPOSIT_RECEIVED])
    with authenticated_as(components, partners.outsider) as deps, pytest.raises(NotFoundError):
        webhook_service(components, deps).get("acme", endpoint_id)
    denied = [e for e in audit_events(components, "manage_webhooks") if e.outcome == "denied"]
    assert [e.actor_id for e in denied] == [partners.member.id]


def test_the_outbox_row_is_written_in_the_transaction_of_the_audited_change(
    partners: Partners, components: Components, receiver: WebhookReceiver
) -> None:
    endpoint_id = register(components, partners.admin, receiver.url, [DEPOSIT_RECEIVED])
    dataset_id = create(components, partners.steward)
    deposited = deposit(components, partners.steward, dataset_id, [CSV])
    with components.db.session() as session:
        (queued,) = session.scalars(select(WebhookDelivery))
        assert (queued.endpoint_id, queued.event_type) == (endpoint_id, DEPOSIT_RECEIVED)
        receipt = deposited.version.receipt
        assert receipt is not None and queued.audit_seq == receipt["audit_index"]
    # The same audited change, rolled back: neither its event nor its delivery remains.
    ctx = context_of(components, partners.steward)
    record = AuditRecord(
        "dataset.deposit", "success", "dataset", dataset_id, org_ids=(ctx.principal.org_id,)
    )
    with components.db.session() as session:
        seq = components.audit.append(
            session, ctx, dataclasses.replace(record, details={"version": 2})
        )
        assert session.scalar(select(WebhookDelivery).where(WebhookDelivery.audit_seq == seq))
        session.rollback()
    with log_session(components) as session:
        assert session.get(AuditEvent, seq) is None
        assert len(list(session.scalars(select(WebhookDelivery)))) == 1


def test_a_ping_is_delivered_signed_to_the_receiver_and_the_attempt_audited(
    partners: Partners, components: Components, receiver: WebhookReceiver
) -> None:
    with authenticated_as(components, partners.admin) as deps:
        created = webhook_service(components, deps).create(
            "acme", receiver.url, "", [DEPOSIT_RECEIVED]
        )
    queued = ping(components, partners.admin, created.endpoint.id)
    assert webhook_deliveries(components).deliver_due() == 1
    (received,) = receiver.received
    now = int(components.clock.now().timestamp())
    assert verify_signature(received, created.secret.secret, now)
    assert received.event["type"] == "ping" and received.header("webhook-id") == queued.event_id
    with authenticated_as(components, partners.admin) as deps:
        sent = (
            webhook_service(components, deps)
            .delivery("acme", created.endpoint.id, queued.id)
            .delivery
        )
        assert (sent.status, sent.attempt_count, len(sent.attempts)) == ("delivered", 1, 1)
    (delivered,) = audit_events(components, "webhook.deliver")
    assert (delivered.resource_id, delivered.outcome) == (queued.id, "success")


def test_dead_deliveries_spend_the_failure_budget_and_enabling_starts_it_over(
    partners: Partners, components: Components, receiver: WebhookReceiver
) -> None:
    endpoint_id = register(components, partners.admin, receiver.url, [DEPOSIT_RECEIVED])
    receiver.script = [500, 503]
    for _ in range(2):  # each dies at its one attempt
        ping(components, partners.admin, endpoint_id)
        assert webhook_deliveries(components).deliver_due() == 1
    with authenticated_as(components, partners.admin) as deps:
        disabled = webhook_service(components, deps).get("acme", endpoint_id)
        assert (disabled.enabled, disabled.disabled_reason) == (False, "failure_budget")
    with pytest.raises(InvalidStateError):
        ping(components, partners.admin, endpoint_id)
    (spent,) = audit_events(components, "webhook.disable")
    assert (spent.resource_id, spent.reason) == (endpoint_id, "failure_budget")
    with authenticated_as(components, partners.admin) as deps:
        assert webhook_service(components, deps).enable("acme", endpoint_id).enabled
    with components.db.session() as session:
        assert session.get_one(WebhookEndpoint, endpoint_id).consecutive_dead == 0
    (event,) = audit_events(components, "webhook.enable")
    assert '"disabled_reason":"failure_budget"' in event.entry
    ping(components, partners.admin, endpoint_id)
    assert webhook_deliveries(components).deliver_due() == 1
    assert [r.answered for r in receiver.received] == [500, 503, 200]
