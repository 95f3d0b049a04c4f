"""A partner granted a view learns nothing of the original beyond the view: not its digest,
size, row count or the names of the fields it was not granted. Checked over everything such
a partner can read: API answers and headers, its audit trail, and its webhook payloads."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from escrow.app import webhook_deliveries
from escrow.components import Components
from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.datasets import create_dataset, deposit
from tests.fixtures.webhook_receiver import WebhookReceiver, running_receiver

SALES = b"region,amount,customer\r\nEU,10,alice\r\nUS,20,bob\r\nEU,30,carol\r\nAPAC,40,dave\r\n"
MORE_SALES = SALES + b"EU,50,erin\r\nUS,60,frank\r\n"
SCHEMA = {
    "fields": [
        {"name": "region", "type": "string"},
        {"name": "amount", "type": "number"},
        {"name": "customer", "type": "string"},
    ]
}
VIEW = {
    "fields": ["region", "amount"],
    "where": {"all": [{"field": "region", "op": "eq", "value": "EU"}]},
}
UNGRANTED_FIELD = "customer"
# Keys that, holding a value, would describe the original rather than the view.
ORIGINAL_KEYS = ("size", "sha256", "rows_scanned", "malformed_rows", "receipt")


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {
        **settings_env,
        "ESCROW_WEBHOOK_INTERVAL": "0",  # the test delivers itself
        "ESCROW_WEBHOOK_ALLOW_HTTP": "true",
        "ESCROW_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
    }


@pytest.fixture
def receivers() -> Iterator[tuple[WebhookReceiver, WebhookReceiver]]:
    with running_receiver() as owner, running_receiver() as partner:
        yield owner, partner


class ViewDeal:
    """Acme escrows sales for Globex, which is granted EU rows of two of the three fields."""

    def __init__(self, eco: Ecosystem, owner_hook: str, partner_hook: str) -> None:
        eco.org("acme", "strategic")
        eco.org("globex", "strategic")
        eco.partnership("acme", "globex")
        self.owner_admin = eco.principal("acme", "admin")
        self.steward = eco.principal("acme", "steward")
        self.partner = eco.principal("globex", "admin")
        self.partner_auditor = eco.principal("globex", "auditor")
        for caller, org, url in (
            (self.owner_admin, "acme", owner_hook),
            (self.partner, "globex", partner_hook),
        ):
            hook = caller.post(f"/v1/orgs/{org}/webhooks", json={"url": url})
            assert hook.status_code == 201, hook.text
        self.dataset = create_dataset(self.steward, name="sales", schema=SCHEMA)["id"]
        assert deposit(self.steward, self.dataset, SALES).status_code == 201
        agreement = self.steward.post(
            f"/v1/datasets/{self.dataset}/agreements",
            json={
                "beneficiary": "globex",
                "purpose": "demand planning",
                "view": VIEW,
                "approvals": {"required": 0, "from": ["owner:steward"]},
            },
        )
        assert agreement.status_code == 201, agreement.text
        released = self.steward.post(f"/v1/agreements/{agreement.json()['id']}/release")
        assert released.status_code == 200, released.text
        self.view_sha256 = released.json()["release_receipt"]["view_sha256"]

    def content(self, caller: Caller, number: int, **headers: str) -> Any:
        url = f"/v1/datasets/{self.dataset}/versions/{number}/content"
        return caller.get(url, headers=headers)


def _secrets_of(original: bytes, view_sha256: str) -> list[str]:
    digest = hashlib.sha256(original).hexdigest()
    old_etag = hashlib.sha256(f"{digest}:{view_sha256}".encode()).hexdigest()
    return [digest, old_etag, UNGRANTED_FIELD]


def _original_values(value: Any, path: str = "") -> Iterator[str]:
    """Paths of members under ORIGINAL_KEYS that hold something."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ORIGINAL_KEYS and item not in (None, {}, []):
                yield f"{path}.{key}"
            yield from _original_values(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _original_values(item, f"{path}[{index}]")


def test_everything_a_view_only_partner_reads_is_free_of_the_original(
    eco: Ecosystem,
    components: Components,
    receivers: tuple[WebhookReceiver, WebhookReceiver],
) -> None:
    owner_hook, partner_hook = receivers
    deal = ViewDeal(eco, owner_hook.url, partner_hook.url)
    first = deal.content(deal.partner, 1)
    assert first.status_code == 200 and first.content == b"region,amount\r\nEU,10\r\nEU,30\r\n"
    assert deposit(deal.steward, deal.dataset, MORE_SALES).status_code == 201
    assert deal.content(deal.partner, 2).status_code == 200
    webhook_deliveries(components).deliver_due()

    readable: list[tuple[str, Any]] = [
        ("dataset", deal.partner.get(f"/v1/datasets/{deal.dataset}").json()),
        ("datasets", deal.partner.get("/v1/datasets").json()),
        ("versions", deal.partner.get(f"/v1/datasets/{deal.dataset}/versions").json()),
        ("version", deal.partner.get(f"/v1/datasets/{deal.dataset}/versions/2").json()),
        ("headers", dict(first.headers)),
    ]
    trail = deal.partner_auditor.get("/v1/audit/events?limit=200").json()["items"]
    entries = [json.loads(item["entry"]) for item in trail]
    readable += [(f"event {e['seq']} {e['action']}", e) for e in entries]
    payloads = [received.event for received in partner_hook.received]
    readable += [(f"webhook {p['type']}", p) for p in payloads]

    # The walk covers every kind of event and payload the partner got from this deal.
    kinds = {e["action"] for e in entries}
    assert {"agreement.create", "agreement.release", "dataset.download"} <= kinds
    assert "dataset.download.view" in kinds
    assert {p["type"] for p in payloads} >= {"agreement.released", "dataset.deposit_received"}

    secrets = _secrets_of(SALES, deal.view_sha256) + _secrets_of(MORE_SALES, deal.view_sha256)
    for label, value in readable:
        text = json.dumps(value)
        assert [s for s in secrets if s in text] == [], label
        assert list(_original_values(value)) == [], label
    [dataset] = [d for d in readable[1][1]["items"] if d["id"] == deal.dataset]
    assert [f["name"] for f in dataset["schema"]["fields"]] == ["region", "amount"]

    # The owner still gets all of it.
    owner_payload = next(
        r.event for r in owner_hook.received if r.event["type"] == "dataset.deposit_received"
    )
    assert owner_payload["data"]["version"]["sha256"] == hashlib.sha256(SALES).hexdigest()
    assert owner_payload["data"]["version"]["size"] == len(SALES)
    owner_view = deal.steward.get(f"/v1/datasets/{deal.dataset}").json()
    assert [f["name"] for f in owner_view["schema"]["fields"]] == ["region", "amount", "customer"]


def test_a_view_etag_is_not_derived_from_the_originals_digest(
    eco: Ecosystem, receivers: tuple[WebhookReceiver, WebhookReceiver]
) -> None:
    owner_hook, partner_hook = receivers
    deal = ViewDeal(eco, owner_hook.url, partner_hook.url)
    etag = deal.content(deal.partner, 1).headers["etag"]
    digest = hashlib.sha256(SALES).hexdigest()
    guessed = hashlib.sha256(f"{digest}:{deal.view_sha256}".encode()).hexdigest()
    assert etag.startswith('"view-') and guessed not in etag and digest not in etag
    assert deal.content(deal.partner, 1).headers["etag"] == etag  # still a stable validator
    owner_etag = deal.content(deal.steward, 1).headers["etag"]
    assert owner_etag == f'"sha256-{digest}"'


def _released(steward: Caller, dataset: str, beneficiary: str, view: dict[str, Any] | None) -> None:
    terms: dict[str, Any] = {
        "beneficiary": beneficiary,
        "purpose": "demand planning",
        "approvals": {"required": 0, "from": ["owner:steward"]},
    }
    if view is not None:
        terms["view"] = view
    agreement = steward.post(f"/v1/datasets/{dataset}/agreements", json=terms)
    assert agreement.status_code == 201, agreement.text
    released = steward.post(f"/v1/agreements/{agreement.json()['id']}/release")
    assert released.status_code == 200, released.text


def test_of_several_releases_the_latest_view_applies_until_a_whole_grant_and_none_is_another_orgs(
    eco: Ecosystem,
) -> None:
    """The grant a dataset's answer and download apply comes with the decision's facts, which
    list every grantee's releases: only the caller's own count, the latest view of them,
    unless one grants it whole."""
    for slug in ("acme", "globex", "initech"):
        eco.org(slug, "strategic")
    eco.partnership("acme", "globex")
    eco.partnership("acme", "initech")
    steward = eco.principal("acme", "steward")
    partner = eco.principal("globex", "admin")
    dataset = create_dataset(steward, name="sales", schema=SCHEMA)["id"]
    assert deposit(steward, dataset, SALES).status_code == 201

    def seen() -> tuple[list[str], bytes, list[str]]:
        answer = partner.get(f"/v1/datasets/{dataset}")
        content = partner.get(f"/v1/datasets/{dataset}/versions/1/content")
        versions = partner.get(f"/v1/datasets/{dataset}/versions")  # grant_for's own query
        assert (answer.status_code, content.status_code) == (200, 200)
        whole = [key for key in ("size", "sha256") if versions.json()["items"][0].get(key)]
        return [f["name"] for f in answer.json()["schema"]["fields"]], content.content, whole

    _released(steward, dataset, "globex", {"fields": ["region", "amount"], "where": None})
    _released(steward, dataset, "initech", {"fields": ["customer"], "where": None})
    _released(steward, dataset, "globex", VIEW)  # later: this one applies
    assert seen() == (["region", "amount"], b"region,amount\r\nEU,10\r\nEU,30\r\n", [])

    _released(steward, dataset, "globex", {"fields": ["customer"], "where": None})
    assert seen()[:2] == (["customer"], b"customer\r\nalice\r\nbob\r\ncarol\r\ndave\r\n")

    _released(steward, dataset, "initech", None)  # another org's whole grant changes nothing
    assert seen()[0] == ["customer"]
    _released(steward, dataset, "globex", None)
    _released(steward, dataset, "globex", VIEW)  # a whole grant wins over a later view
    assert seen() == (["region", "amount", "customer"], SALES, ["size", "sha256"])
