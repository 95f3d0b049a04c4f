"""POST /v1/authz/explain: which rule decided, for oneself, one's org's admins and operators."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from escrow.clock import FrozenClock
from escrow.components import Components
from storage.models import AuditEvent
from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.audit import log_session
from tests.fixtures.datasets import create_dataset


class People:
    def __init__(self, eco: Ecosystem) -> None:
        eco.org("acme", "strategic")
        eco.org("globex", "strategic")
        eco.partnership("acme", "globex")
        self.steward = eco.principal("acme", "steward")
        self.member = eco.principal("acme", "member")
        self.admin = eco.principal("acme", "admin")
        self.partner = eco.principal("globex", "admin")
        self.operator = eco.operator
        self.dataset = create_dataset(self.steward)["id"]


@pytest.fixture
def people(eco: Ecosystem) -> People:
    return People(eco)


def explain(caller: Caller, action: str, kind: str, ident: str, actor: str | None = None) -> Any:
    payload: dict[str, Any] = {"action": action, "resource": {"type": kind, "id": ident}}
    if actor is not None:
        payload["actor"] = actor
    return caller.post("/v1/authz/explain", json=payload)


def test_an_allowed_action_names_the_rule_and_role(people: People, components: Components) -> None:
    response = explain(people.steward, "deposit", "dataset", people.dataset)
    assert response.status_code == 200, response.text
    why = response.json()
    assert why["allowed"] and why["actor"] == people.steward.id
    assert why["policy_version"] == components.policy.version
    assert why["rule"].endswith('resource Dataset { "deposit" if "steward" on "owner"; }')
    assert why["path"][0].startswith("main.polar:") and len(why["path"]) >= 3
    assert why["actor_roles"] == ["steward"] and "steward on owner" in why["roles_on_resource"]
    assert why["release_blockers"] is None
    with log_session(components) as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "authz.explain")
        ).one()
    assert event.actor_id == people.steward.id and event.policy_version == why["policy_version"]


def test_an_admin_explains_a_members_denial(people: People) -> None:
    why = explain(people.admin, "shred", "dataset", people.dataset, people.member.id).json()
    assert not why["allowed"] and why["rule"] is None and why["actor"] == people.member.id
    assert why["path"][0] == "no rule grants 'shred' on Dataset to this actor"
    assert why["actor_roles"] == ["member"]
    assert why["roles_on_resource"] == ["member on owner"]


def test_an_operator_explains_a_pending_release(people: People) -> None:
    created = people.steward.post(
        f"/v1/datasets/{people.dataset}/agreements",
        json={
            "beneficiary": "globex",
            "purpose": "planning",
            "approvals": {"required": 1, "from": ["beneficiary:admin"]},
        },
    ).json()
    why = explain(people.operator, "approve", "agreement", created["id"], people.partner.id)
    assert why.status_code == 200, why.text
    body = why.json()
    assert body["allowed"] and body["release_blockers"] == ["approvals"]
    assert '"approve"' in body["rule"] and "agreement.approver_grants" in body["rule"]
    org = explain(people.operator, "read", "organization", "acme", people.partner.id).json()
    assert org["allowed"] and "org.partner_org_ids" in org["rule"]


def test_only_the_actor_its_admins_and_operators_may_ask(people: People) -> None:
    assert (
        explain(people.member, "read", "dataset", people.dataset, people.steward.id).status_code
        == 403
    )
    assert (
        explain(people.partner, "read", "organization", "globex", people.member.id).status_code
        == 403
    )
    assert (
        explain(people.member, "read", "dataset", "no-such-id", "no-such-principal").status_code
        == 403
    )
    assert (
        explain(people.operator, "read", "organization", "acme", "no-such-principal").status_code
        == 404
    )
    # Explaining reveals nothing about resources the caller cannot see.
    assert explain(people.partner, "read", "dataset", people.dataset).status_code == 404
    operator = explain(people.operator, "read", "dataset", people.dataset, people.partner.id)
    assert operator.status_code == 200 and not operator.json()["allowed"]


def test_a_denial_names_the_rule_that_would_grant_it_and_what_it_lacked(people: People) -> None:
    why = explain(people.admin, "shred", "dataset", people.dataset, people.member.id).json()
    [grant] = why["would_grant"]
    assert grant["rule"].endswith('resource Dataset { "shred" if "admin" on "owner"; }')
    assert grant["unmet"] == "needs admin on owner (holds: member on owner)"
    assert any(line.startswith("would be granted by ") for line in why["path"])
    partner = explain(people.operator, "download", "dataset", people.dataset, people.partner.id)
    unmet = {g["unmet"] for g in partner.json()["would_grant"]}
    assert "fails: actor.org_id in dataset.released_to" in unmet


def _agreement(people: People, **terms: Any) -> str:
    body = {
        "beneficiary": "globex",
        "purpose": "planning",
        "approvals": {"required": 0, "from": ["owner:steward"]},
        **terms,
    }
    created = people.steward.post(f"/v1/datasets/{people.dataset}/agreements", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_a_partner_learns_why_it_can_no_longer_download_a_revoked_dataset(
    people: People,
) -> None:
    agreement = _agreement(people)
    assert people.steward.post(f"/v1/agreements/{agreement}/release").status_code == 200
    assert explain(people.partner, "download", "dataset", people.dataset).json()["allowed"]
    assert people.steward.post(f"/v1/agreements/{agreement}/revoke").status_code == 200
    why = explain(people.partner, "download", "dataset", people.dataset)
    assert why.status_code == 200, why.text
    body = why.json()
    assert not body["allowed"]
    [status] = body["agreements"]
    assert status["id"] == agreement and status["state"] == "revoked"
    assert status["ended_at"] and status["blockers"] is None


def test_a_partner_learns_an_embargo_and_an_expiry(
    people: People, eco: Ecosystem, clock: FrozenClock
) -> None:
    not_before = clock.now() + timedelta(hours=2)
    embargoed = _agreement(people, not_before=not_before.isoformat())
    [status] = explain(people.partner, "download", "dataset", people.dataset).json()["agreements"]
    assert status["id"] == embargoed and status["state"] == "pending"
    assert status["blockers"] == ["embargo"]
    assert datetime.fromisoformat(status["not_before"]) == not_before
    people.steward.post(f"/v1/agreements/{embargoed}/revoke")
    expiring = _agreement(people, expires_at=(clock.now() + timedelta(hours=1)).isoformat())
    assert people.steward.post(f"/v1/agreements/{expiring}/release").status_code == 200
    eco.advance(clock, hours=1)
    statuses = explain(people.partner, "download", "dataset", people.dataset).json()["agreements"]
    assert [(s["id"], s["state"]) for s in statuses] == [
        (embargoed, "rejected"),
        (expiring, "expired"),
    ]


def test_a_party_never_granted_learns_nothing_about_the_dataset(
    people: People, eco: Ecosystem
) -> None:
    _agreement(people)  # for globex, not initech
    eco.org("initech")
    outsider = eco.principal("initech", "admin")
    asked = explain(outsider, "download", "dataset", people.dataset)
    missing = explain(outsider, "download", "dataset", "01a249b8-0000-7000-8000-000000000000")
    assert asked.status_code == missing.status_code == 404
    assert asked.json()["detail"].replace(people.dataset, "X") == missing.json()["detail"].replace(
        "01a249b8-0000-7000-8000-000000000000", "X"
    )
