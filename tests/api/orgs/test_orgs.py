"""Organizations and partnerships, through HTTP, as operators and partners call them."""

from __future__ import annotations

from tests.fixtures.api import Caller, Ecosystem

PROBLEM = "application/problem+json"


def test_operator_creates_reads_updates_and_lists_orgs(eco: Ecosystem, operator: Caller) -> None:
    acme = eco.org("acme", "strategic")
    assert acme["slug"] == "acme" and acme["tier"] == "strategic" and acme["status"] == "active"
    assert operator.get("/v1/orgs/acme").json()["id"] == acme["id"]
    updated = operator.patch("/v1/orgs/acme", json={"tier": "core"})
    assert updated.status_code == 200 and updated.json()["tier"] == "core"
    assert updated.json()["name"] == "Acme"
    slugs = [o["slug"] for o in operator.get("/v1/orgs").json()["items"]]
    assert slugs == ["platform", "acme"]


def test_org_list_is_paginated_with_a_cursor(eco: Ecosystem, operator: Caller) -> None:
    for i in range(5):
        eco.org(f"org-{i}")
    first = operator.get("/v1/orgs", params={"limit": 4}).json()
    assert len(first["items"]) == 4 and first["next_cursor"]
    second = operator.get("/v1/orgs", params={"limit": 4, "cursor": first["next_cursor"]}).json()
    assert len(second["items"]) == 2 and second["next_cursor"] is None
    bad = operator.get("/v1/orgs", params={"cursor": "%%%"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(PROBLEM)


def test_duplicate_slug_conflicts_and_bad_tier_is_rejected(
    eco: Ecosystem, operator: Caller
) -> None:
    eco.org("acme")
    again = operator.post("/v1/orgs", json={"slug": "acme", "name": "Acme", "tier": "core"})
    assert again.status_code == 409
    assert again.json()["type"].endswith("/conflict")
    wrong = operator.post("/v1/orgs", json={"slug": "beta", "name": "B", "tier": "gold"})
    assert wrong.status_code == 400 and wrong.headers["content-type"].startswith(PROBLEM)
    reserved = operator.post("/v1/orgs", json={"slug": "platform", "name": "P", "tier": "core"})
    assert reserved.status_code == 422


def test_org_admin_cannot_create_orgs_or_touch_another_org(eco: Ecosystem) -> None:
    eco.org("acme")
    eco.org("globex")
    admin = eco.principal("acme", "admin")
    denied = admin.post("/v1/orgs", json={"slug": "evil", "name": "Evil", "tier": "core"})
    assert denied.status_code == 403
    assert denied.json()["type"].endswith("/forbidden")
    # Another tenant's organization does not even exist for acme's admin.
    assert admin.get("/v1/orgs/globex").status_code == 404
    assert admin.patch("/v1/orgs/globex", json={"name": "Pwned"}).status_code == 404
    assert admin.get("/v1/orgs/globex/service-accounts").status_code == 404
    assert (
        admin.post(
            "/v1/orgs/globex/service-accounts", json={"name": "x", "roles": ["admin"]}
        ).status_code
        == 404
    )
    assert admin.post("/v1/orgs/globex/suspend").status_code == 404
    assert [o["slug"] for o in admin.get("/v1/orgs").json()["items"]] == ["acme"]
    # Its own org: readable, but renaming it is the operator's business.
    assert admin.get("/v1/orgs/acme").status_code == 200
    assert admin.patch("/v1/orgs/acme", json={"name": "Mine"}).status_code == 403


def test_partners_see_each_other_and_partnership_lifecycle(
    eco: Ecosystem, operator: Caller
) -> None:
    eco.org("acme")
    eco.org("globex")
    eco.org("initech")
    member = eco.principal("acme", "member")
    assert member.get("/v1/orgs/globex").status_code == 404
    partnership = eco.partnership("globex", "acme")
    assert partnership["orgs"] == ["acme", "globex"] and partnership["status"] == "active"
    assert member.get("/v1/orgs/globex").status_code == 200
    assert sorted(o["slug"] for o in member.get("/v1/orgs").json()["items"]) == ["acme", "globex"]
    assert [p["id"] for p in member.get("/v1/partnerships").json()["items"]] == [partnership["id"]]
    outsider = eco.principal("initech", "admin")
    assert outsider.get(f"/v1/partnerships/{partnership['id']}").status_code == 404
    assert member.post(f"/v1/partnerships/{partnership['id']}/end").status_code == 403
    duplicate = operator.post(
        "/v1/partnerships", json={"orgs": ["acme", "globex"], "kind": "supplier"}
    )
    assert duplicate.status_code == 409
    ended = operator.post(f"/v1/partnerships/{partnership['id']}/end")
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    assert operator.post(f"/v1/partnerships/{partnership['id']}/end").status_code == 409
    assert member.get("/v1/orgs/globex").status_code == 404


def test_partnership_needs_two_distinct_existing_orgs(eco: Ecosystem, operator: Caller) -> None:
    eco.org("acme")
    same = operator.post("/v1/partnerships", json={"orgs": ["acme", "acme"], "kind": "supplier"})
    assert same.status_code == 422
    missing = operator.post("/v1/partnerships", json={"orgs": ["acme", "nope"], "kind": "x1"})
    assert missing.status_code == 404


def test_suspending_an_org_stops_its_tokens_at_once(eco: Ecosystem, operator: Caller) -> None:
    eco.org("acme")
    admin = eco.principal("acme", "admin")
    assert admin.get("/v1/orgs/acme").status_code == 200
    assert operator.post("/v1/orgs/acme/suspend").json()["status"] == "suspended"
    rejected = admin.get("/v1/orgs/acme")
    assert rejected.status_code == 401
    assert rejected.json()["detail"].endswith("suspended_org")
    relogin = admin.client.post(
        "/v1/auth/token", json={"key_id": admin.key_id, "secret": admin.secret}
    )
    assert relogin.status_code == 401
    assert operator.post("/v1/orgs/acme/suspend").status_code == 409
    assert operator.post("/v1/orgs/platform/suspend").status_code == 409
    operator.post("/v1/orgs/acme/reactivate")
    assert admin.get("/v1/orgs/acme").status_code == 200
