"""HTTP for an organization's webhook endpoints and their deliveries."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Router, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from escrow.paging import DEFAULT_PAGE_SIZE
from escrow.params import Cursor, Limit
from escrow.schemas import PageOut
from escrow.webhooks.schemas import (
    DeliveryDetailOut,
    DeliveryOut,
    DeliveryStatus,
    SecretOut,
    SecretRotate,
    WebhookCreate,
    WebhookCreatedOut,
    WebhookOut,
    WebhookUpdate,
)
from escrow.webhooks.service import Changes, WebhookService

ITEM = "/{webhook_id:str}"
DELIVERY = ITEM + "/deliveries/{delivery_id:str}"
Webhooks = NamedDependency[WebhookService]
StatusFilter = Annotated[
    DeliveryStatus | None,
    QueryParameter(
        description="Only deliveries in this state: pending, delivered, dead, cancelled."
    ),
]


@post("/", sync_to_thread=True, summary="Register an endpoint (its secret is shown once)")
def create(
    org: FromPath[str], data: JSONBody[WebhookCreate], webhooks: Webhooks
) -> WebhookCreatedOut:
    created = webhooks.create(org, data.url, data.description, list(data.events))
    return WebhookCreatedOut.created(created)


@get("/", sync_to_thread=True, summary="List the organization's endpoints")
def list_webhooks(
    org: FromPath[str], webhooks: Webhooks, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
) -> PageOut[WebhookOut]:
    page = webhooks.list_in_org(org, cursor, limit)
    return PageOut([WebhookOut.of(e) for e in page.items], page.next_cursor)


@get(ITEM, sync_to_thread=True, summary="Read an endpoint (never its secret)")
def read(org: FromPath[str], webhook_id: FromPath[str], webhooks: Webhooks) -> WebhookOut:
    return WebhookOut.of(webhooks.get(org, webhook_id))


@patch(ITEM, sync_to_thread=True, summary="Change an endpoint's URL, events, description or state")
def update(
    org: FromPath[str], webhook_id: FromPath[str], data: JSONBody[WebhookUpdate], webhooks: Webhooks
) -> WebhookOut:
    changes = Changes(
        url=None if data.url is msgspec.UNSET else data.url,
        description=None if data.description is msgspec.UNSET else data.description,
        events=None if data.events is msgspec.UNSET else list(data.events),
        enabled=None if data.enabled is msgspec.UNSET else data.enabled,
    )
    return WebhookOut.of(webhooks.update(org, webhook_id, changes))


@post(
    ITEM + "/enable",
    sync_to_thread=True,
    status_code=200,
    summary="Enable an endpoint again (disabled by an admin or by its failure budget)",
)
def enable(org: FromPath[str], webhook_id: FromPath[str], webhooks: Webhooks) -> WebhookOut:
    return WebhookOut.of(webhooks.enable(org, webhook_id))


@delete(ITEM, sync_to_thread=True, summary="Delete an endpoint; queued deliveries are cancelled")
def remove(org: FromPath[str], webhook_id: FromPath[str], webhooks: Webhooks) -> None:
    webhooks.delete(org, webhook_id)


@post(
    ITEM + "/rotate-secret",
    sync_to_thread=True,
    status_code=200,
    summary="New signing secret (shown once); the previous one signs too for the grace period",
)
def rotate_secret(
    org: FromPath[str],
    webhook_id: FromPath[str],
    webhooks: Webhooks,
    data: JSONBody[SecretRotate | None] = None,
) -> SecretOut:
    grace = (data or SecretRotate()).grace_seconds
    return SecretOut.of(webhook_id, webhooks.rotate_secret(org, webhook_id, grace))


@post(ITEM + "/ping", sync_to_thread=True, status_code=202, summary="Queue a ping event")
def ping(org: FromPath[str], webhook_id: FromPath[str], webhooks: Webhooks) -> DeliveryOut:
    return DeliveryOut.of(webhooks.ping(org, webhook_id))


@get(ITEM + "/deliveries", sync_to_thread=True, summary="Deliveries with their attempts")
def list_deliveries(
    org: FromPath[str],
    webhook_id: FromPath[str],
    webhooks: Webhooks,
    status: StatusFilter = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
) -> PageOut[DeliveryOut]:
    page = webhooks.deliveries(org, webhook_id, status, cursor, limit)
    return PageOut([DeliveryOut.of(d) for d in page.items], page.next_cursor)


@get(DELIVERY, sync_to_thread=True, summary="One delivery, its attempts and the body it sends")
def read_delivery(
    org: FromPath[str], webhook_id: FromPath[str], delivery_id: FromPath[str], webhooks: Webhooks
) -> DeliveryDetailOut:
    return DeliveryDetailOut.detail(webhooks.delivery(org, webhook_id, delivery_id))


@post(
    DELIVERY + "/redeliver",
    sync_to_thread=True,
    status_code=202,
    summary="Send the same event again as a new delivery",
)
def redeliver(
    org: FromPath[str], webhook_id: FromPath[str], delivery_id: FromPath[str], webhooks: Webhooks
) -> DeliveryOut:
    return DeliveryOut.of(webhooks.redeliver(org, webhook_id, delivery_id))


webhooks_router = Router(
    path="/v1/orgs/{org:str}/webhooks",
    route_handlers=[
        create,
        list_webhooks,
        read,
        update,
        enable,
        remove,
        rotate_secret,
        ping,
        list_deliveries,
        read_delivery,
        redeliver,
    ],
    tags=["webhooks"],
)
