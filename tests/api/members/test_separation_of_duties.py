"""Operators run the ecosystem but cannot make themselves a member of an organization: they
seed its first admin and contain (suspend, revoke), each action told to the org's admins.
Only an operator grants the operator role, and no principal changes its own roles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.api import Caller, Ecosystem, token_for
from tests.fixtures.webhook_receiver import WebhookReceiver, running_receiver


@pytest.fixture
def settings_env(settings_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **settings_env,
        "ESCROW_WEBHOOK_INTERVAL": "0",  # nothing is delivered: the queue is what is checked
        "ESCROW_WEBHOOK_ALLOW_HTTP": "true",
        "ESCROW_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
    }


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver() as running:
        yield running


def _accounts(org: str) -> str:
    return f"/v1/orgs/{org}/service-accounts"


def _operator_notices(admin: Caller, org: str, webhook: dict[str, Any]) -> list[dict[str, Any]]:
    hook = f"/v1/orgs/{org}/webhooks/{webhook['id']}"
    listed = admin.get(hook + "/deliveries")
    assert listed.status_code == 200, listed.text
    notices = []
    for row in listed.json()["items"]:
        if row["event_type"] == "org.operator_action":
            detail = admin.get(f"{hook}/deliveries/{row['id']}").json()
            notices.append(detail["payload"]["data"]["operator_action"])
    return notices


def _trail(admin: Caller, org: str, action: str) -> list[dict[str, Any]]:
    response = admin.get("/v1/audit/events", params={"org": org, "action": action})
    assert response.status_code == 200, response.text
    return [json.loads(item["entry"]) for item in response.json()["items"]]


def test_operator_seeds_the_first_admin_with_its_only_key(eco: Ecosystem) -> None:
    eco.org("acme")
    created = eco.operator.post(_accounts("acme"), json={"name": "boss", "roles": ["admin"]})
    assert created.status_code == 201, created.text
    key = created.json()["api_key"]
    assert key["secret"] and token_for(eco.client, key["key_id"], key["secret"])
    admin_id = created.json()["id"]
    # From now on the organization has an admin: the operator mints and creates nothing.
    assert eco.operator.post(f"{_accounts('acme')}/{admin_id}/keys").status_code == 403
    rotate = eco.operator.post(f"{_accounts('acme')}/{admin_id}/keys/{key['key_id']}/rotate")
    assert rotate.status_code == 403
    second = eco.operator.post(_accounts("acme"), json={"name": "boss2", "roles": ["admin"]})
    assert second.status_code == 403
    listed = eco.operator.get(f"{_accounts('acme')}/{admin_id}/keys")
    assert listed.status_code == 200 and "secret" not in listed.text
    [seeded] = _trail(eco.operator, "acme", "service.create")
    assert seeded["details"]["operator_action"] == "create_first_admin"


def test_operator_cannot_create_a_member_to_read_an_orgs_private_data(eco: Ecosystem) -> None:
    eco.org("acme")
    eco.principal("acme", "admin")
    for roles in (["member"], ["steward"], ["admin"]):
        attempt = eco.operator.post(_accounts("acme"), json={"name": "mole", "roles": roles})
        assert attempt.status_code == 403, roles
    as_user = eco.operator.post("/v1/orgs/acme/members", json={"name": "mole", "roles": ["member"]})
    assert as_user.status_code == 403
    denied = [e for e in _trail(eco.operator, "acme", "manage_members") if e["outcome"] == "denied"]
    assert len(denied) == 4


def test_operator_cannot_mint_a_key_for_an_existing_member(eco: Ecosystem) -> None:
    eco.org("acme")
    eco.principal("acme", "admin")
    steward = eco.principal("acme", "steward")
    issue = eco.operator.post(f"{_accounts('acme')}/{steward.id}/keys")
    assert issue.status_code == 403
    rotate = eco.operator.post(f"{_accounts('acme')}/{steward.id}/keys/{steward.key_id}/rotate")
    assert rotate.status_code == 403
    keys = eco.operator.get(f"{_accounts('acme')}/{steward.id}/keys").json()["items"]
    assert [k["key_id"] for k in keys] == [steward.key_id]


def test_operator_suspends_a_principal_and_the_orgs_admins_are_told(
    eco: Ecosystem, receiver: WebhookReceiver
) -> None:
    eco.org("acme")
    admin = eco.principal("acme", "admin")
    steward = eco.principal("acme", "steward")
    webhook = admin.post("/v1/orgs/acme/webhooks", json={"url": receiver.url}).json()
    assert "org.operator_action" in webhook["events"]
    item = f"{_accounts('acme')}/{steward.id}"
    suspended = eco.operator.post(item + "/suspend")
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    assert steward.get("/v1/auth/whoami").status_code == 401
    again = steward.client.post(
        "/v1/auth/token", json={"key_id": steward.key_id, "secret": steward.secret}
    )
    assert again.status_code == 401
    assert eco.operator.post(item + "/suspend").status_code == 409
    assert eco.operator.post(item + "/reactivate").status_code == 200
    steward.refresh()
    assert steward.get("/v1/auth/whoami").status_code == 200
    revoked = eco.operator.delete(f"{item}/keys/{steward.key_id}")
    assert revoked.status_code == 204
    notices = _operator_notices(admin, "acme", webhook)
    assert sorted(n["action"] for n in notices) == ["reactivate", "revoke_key", "suspend"]
    assert {n["org"] for n in notices} == {"acme"}
    [event] = _trail(admin, "acme", "service.suspend")
    assert event["details"]["operator_action"] == "suspend"


def test_an_admins_own_containment_is_not_reported_as_an_operator_action(
    eco: Ecosystem, receiver: WebhookReceiver
) -> None:
    eco.org("acme")
    admin = eco.principal("acme", "admin")
    steward = eco.principal("acme", "steward")
    webhook = admin.post("/v1/orgs/acme/webhooks", json={"url": receiver.url}).json()
    assert admin.post(f"{_accounts('acme')}/{steward.id}/suspend").status_code == 200
    assert _operator_notices(admin, "acme", webhook) == []


def test_suspending_every_admin_does_not_let_the_operator_seed_another(eco: Ecosystem) -> None:
    eco.org("acme")
    admin = eco.principal("acme", "admin")
    assert eco.operator.post(f"{_accounts('acme')}/{admin.id}/suspend").status_code == 200
    seed = eco.operator.post(_accounts("acme"), json={"name": "usurper", "roles": ["admin"]})
    assert seed.status_code == 403


def test_once_the_last_admin_is_removed_the_operator_seeds_a_new_one(eco: Ecosystem) -> None:
    eco.org("acme")
    first = eco.principal("acme", "admin")
    second = eco.principal("acme", "admin", name="second-admin")
    assert second.delete(f"{_accounts('acme')}/{first.id}").status_code == 204
    assert first.delete(f"{_accounts('acme')}/{second.id}").status_code == 401
    # second removes itself: the organization is left without an admin.
    assert second.delete(f"{_accounts('acme')}/{second.id}").status_code == 204
    seed = eco.operator.post(_accounts("acme"), json={"name": "recovery", "roles": ["admin"]})
    assert seed.status_code == 201 and seed.json()["api_key"]["secret"]


def test_a_platform_admin_cannot_grant_itself_operator(eco: Ecosystem) -> None:
    platform_admin = eco.principal("platform", "admin", name="plain-admin")
    mine = f"{_accounts('platform')}/{platform_admin.id}"
    grab = platform_admin.patch(mine, json={"roles": ["admin", "operator"]})
    assert grab.status_code == 403
    assert platform_admin.get("/v1/auth/whoami").json()["roles"] == ["admin"]
    created = platform_admin.post(
        _accounts("platform"), json={"name": "sidekick", "roles": ["operator"]}
    )
    assert created.status_code == 403
    other = platform_admin.post(_accounts("platform"), json={"name": "peer", "roles": ["admin"]})
    assert other.status_code == 201
    promote = platform_admin.patch(
        f"{_accounts('platform')}/{other.json()['id']}", json={"roles": ["operator"]}
    )
    assert promote.status_code == 403


def test_only_an_operator_grants_and_removes_operator(eco: Ecosystem) -> None:
    platform_admin = eco.principal("platform", "admin", name="plain-admin")
    item = f"{_accounts('platform')}/{platform_admin.id}"
    granted = eco.operator.patch(item, json={"roles": ["admin", "operator"]})
    assert granted.status_code == 200 and granted.json()["roles"] == ["admin", "operator"]
    removed = eco.operator.patch(item, json={"roles": ["admin"]})
    assert removed.status_code == 200 and removed.json()["roles"] == ["admin"]
    created = eco.operator.post(_accounts("platform"), json={"name": "op2", "roles": ["operator"]})
    assert created.status_code == 201


def test_no_principal_changes_its_own_roles(eco: Ecosystem) -> None:
    eco.org("acme")
    admin = eco.principal("acme", "admin")
    mine = f"{_accounts('acme')}/{admin.id}"
    assert admin.patch(mine, json={"roles": ["admin", "steward"]}).status_code == 403
    assert admin.patch(mine, json={"roles": ["member"]}).status_code == 403
    operator_self = f"{_accounts('platform')}/{eco.operator.id}"
    assert eco.operator.patch(operator_self, json={"roles": ["operator"]}).status_code == 403
    denied = _trail(admin, "acme", "change_roles")
    assert [e["outcome"] for e in denied] == ["denied", "denied"]
