"""A denied request looks the same whether its target exists or not: in the answer, and in
every audit event the prober's organization can read afterwards."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from escrow.components import Components
from storage.models import AuditEvent
from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.datasets import create_dataset, deposit

CSV = b"region,amount\nEU,10\nUS,20\n"
SCHEMA = {"fields": [{"name": "region", "type": "string"}, {"name": "amount", "type": "number"}]}
MISSING_ID = "01a249ba-0000-7000-8000-00000000dead"
MISSING_ORG = "no-such-org"
OTHER_ID = "01a249ba-0000-7000-8000-00000000beef"  # a member id, in either org


@dataclass(frozen=True)
class Targets:
    org: str
    dataset: str
    agreement: str
    partnership: str


class World:
    """Acme owns a dataset escrowed for Globex (partners); Initech probes, unrelated to both."""

    def __init__(self, eco: Ecosystem, components: Components) -> None:
        self.components = components
        self.acme = eco.org("acme", "strategic")
        eco.org("globex", "strategic")
        eco.org("initech", "core")
        partnership = eco.partnership("acme", "globex")
        steward = eco.principal("acme", "steward")
        dataset = create_dataset(steward, schema=SCHEMA)
        assert deposit(steward, dataset["id"], CSV).status_code == 201
        agreement = steward.post(
            f"/v1/datasets/{dataset['id']}/agreements",
            json={
                "beneficiary": "globex",
                "purpose": "demand planning",
                "approvals": {"required": 1, "from": ["owner:steward"]},
            },
        )
        assert agreement.status_code == 201, agreement.text
        self.existing = Targets("acme", dataset["id"], agreement.json()["id"], partnership["id"])
        self.missing = Targets(
            MISSING_ORG, MISSING_ID, MISSING_ID[:-1] + "e", MISSING_ID[:-1] + "f"
        )
        self.prober = eco.principal("initech", "admin")
        self.auditor = eco.principal("initech", "auditor")

    def trail(self) -> list[dict[str, Any]]:
        """Every event the prober's organization can read, oldest first."""
        items = self.auditor.get("/v1/audit/events?limit=200").json()["items"]
        return [json.loads(item["entry"]) for item in items]

    def log_size(self) -> int:
        with self.components.db.session() as session:
            return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


@pytest.fixture
def world(eco: Ecosystem, components: Components) -> World:
    return World(eco, components)


# (method, path, JSON body); {org} {dataset} {agreement} {partnership} name the target.
PROBES = [
    ("GET", "/v1/orgs/{org}", None),
    ("PATCH", "/v1/orgs/{org}", {"name": "Taken"}),
    ("POST", "/v1/orgs/{org}/suspend", None),
    ("POST", "/v1/orgs/{org}/reactivate", None),
    ("GET", "/v1/orgs/{org}/members", None),
    ("POST", "/v1/orgs/{org}/members", {"name": "mole", "roles": ["admin"]}),
    ("GET", "/v1/orgs/{org}/members/" + OTHER_ID, None),
    ("GET", "/v1/orgs/{org}/service-accounts", None),
    ("POST", "/v1/orgs/{org}/service-accounts", {"name": "bot", "roles": ["member"]}),
    ("POST", "/v1/orgs/{org}/service-accounts/" + OTHER_ID + "/keys", None),
    ("GET", "/v1/orgs/{org}/webhooks", None),
    ("POST", "/v1/orgs/{org}/webhooks", {"url": "https://example.com/hook"}),
    ("GET", "/v1/audit/events?org={org}", None),
    ("GET", "/v1/ecosystem/metrics?org={org}", None),
    (
        "POST",
        "/v1/authz/explain",
        {"action": "read", "resource": {"type": "organization", "id": "{org}"}},
    ),
    ("GET", "/v1/datasets/{dataset}", None),
    ("POST", "/v1/datasets/{dataset}/withdraw", None),
    ("DELETE", "/v1/datasets/{dataset}", None),
    ("GET", "/v1/datasets/{dataset}/versions", None),
    ("GET", "/v1/datasets/{dataset}/versions/1", None),
    ("GET", "/v1/datasets/{dataset}/versions/1/content", None),
    (
        "POST",
        "/v1/datasets/{dataset}/agreements",
        {
            "beneficiary": "initech",
            "purpose": "p",
            "approvals": {"required": 0, "from": ["owner:steward"]},
        },
    ),
    (
        "POST",
        "/v1/authz/explain",
        {"action": "read", "resource": {"type": "dataset", "id": "{dataset}"}},
    ),
    ("GET", "/v1/agreements/{agreement}", None),
    ("GET", "/v1/agreements/{agreement}/preview", None),
    ("POST", "/v1/agreements/{agreement}/approvals", {"decision": "approve"}),
    ("POST", "/v1/agreements/{agreement}/attestations", {"event": "closing"}),
    ("POST", "/v1/agreements/{agreement}/release", None),
    ("POST", "/v1/agreements/{agreement}/objections", {"reason": "no"}),
    ("POST", "/v1/agreements/{agreement}/revoke", {"reason": "no"}),
    ("POST", "/v1/agreements/{agreement}/terminate", {"reason": "no"}),
    (
        "POST",
        "/v1/authz/explain",
        {"action": "read", "resource": {"type": "agreement", "id": "{agreement}"}},
    ),
    ("GET", "/v1/partnerships/{partnership}", None),
    ("POST", "/v1/partnerships/{partnership}/end", None),
    (
        "POST",
        "/v1/authz/explain",
        {"action": "read", "resource": {"type": "partnership", "id": "{partnership}"}},
    ),
]


def _fill(template: Any, targets: Targets) -> Any:
    text = json.dumps(template)
    for name, value in vars(targets).items():
        text = text.replace("{" + name + "}", value)
    return json.loads(text)


def _normal(text: str, targets: Targets) -> str:
    """The answer or trail with the target as the prober named it, written as a placeholder."""
    for name, value in vars(targets).items():
        text = text.replace(value, f"<{name}>")
    return text


def _probe(world: World, method: str, path: str, body: Any, targets: Targets) -> dict[str, Any]:
    before, size = len(world.trail()), world.log_size()
    response = world.prober.request(
        method,
        _fill(path, targets),
        json=_fill(body, targets) if body is not None else None,
        headers={"X-Request-ID": "probe"},
    )
    seen = [
        {k: v for k, v in entry.items() if k not in ("seq", "time")}
        for entry in world.trail()[before:]
        if entry["request_id"] == "probe"
    ]
    return {
        "status": response.status_code,
        "content_type": response.headers.get("content-type"),
        "body": _normal(response.text, targets),
        "trail": _normal(json.dumps(seen, sort_keys=True), targets),
        "log_growth": world.log_size() - size,
    }


def test_a_denied_probe_looks_the_same_whether_its_target_exists_or_not(world: World) -> None:
    """Every kind of denial against another tenant's org, dataset, agreement or partnership
    (one world for all of them: building one per probe would triple the run time)."""
    differing = []
    for method, path, body in PROBES:
        existing = _probe(world, method, path, body, world.existing)
        missing = _probe(world, method, path, body, world.missing)
        if existing != missing or existing["status"] != 404:
            differing.append((method, path, existing, missing))
        assert world.acme["id"] not in existing["body"] + existing["trail"], path
        # Recorded, as every denial is: in the prober's trail, and for operators.
        assert json.loads(existing["trail"]) != [] and existing["log_growth"] == 2, path
    assert differing == []


def test_an_unrelated_org_reading_an_org_gets_the_same_404_without_its_id(
    world: World, components: Components
) -> None:
    existing = world.prober.get("/v1/orgs/acme")
    missing = world.prober.get(f"/v1/orgs/{MISSING_ORG}")
    assert existing.status_code == missing.status_code == 404
    assert existing.json()["detail"] == "no organization 'acme'"
    assert missing.json()["detail"] == f"no organization '{MISSING_ORG}'"
    assert world.acme["id"] not in existing.text


def test_operators_see_which_org_a_concealed_probe_targeted(world: World, operator: Caller) -> None:
    world.prober.get(f"/v1/datasets/{world.existing.dataset}")
    world.prober.get(f"/v1/datasets/{MISSING_ID}")
    items = operator.get("/v1/audit/events?action=authz.concealed_target").json()["items"]
    entries = [json.loads(item["entry"]) for item in items]
    assert [(e["orgs"], e["details"]["target_orgs"]) for e in entries] == [
        ([], [world.acme["id"]]),
        ([], []),
    ]
    assert all(e["resource"]["type"] == "dataset" for e in entries)
