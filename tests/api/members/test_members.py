"""Members, service accounts and API keys: org admins manage their own org only."""

from __future__ import annotations

from tests.fixtures.api import Caller, Ecosystem, token_for


def test_admin_manages_members_and_roles(eco: Ecosystem) -> None:
    eco.org("acme")
    admin = eco.principal("acme", "admin")
    alice = admin.post(
        "/v1/orgs/acme/members",
        json={"name": "Alice", "email": "alice@acme.test", "roles": ["steward"]},
    )
    assert alice.status_code == 201, alice.text
    alice_id = alice.json()["id"]
    assert alice.json()["kind"] == "user" and alice.json()["org"] == "acme"
    changed = admin.patch(
        f"/v1/orgs/acme/members/{alice_id}", json={"roles": ["member", "auditor"]}
    )
    assert changed.status_code == 200 and changed.json()["roles"] == ["auditor", "member"]
    listed = admin.get("/v1/orgs/acme/members").json()["items"]
    assert [m["name"] for m in listed] == ["Alice"]
    assert admin.delete(f"/v1/orgs/acme/members/{alice_id}").status_code == 204
    assert admin.get(f"/v1/orgs/acme/members/{alice_id}").json()["status"] == "removed"
    assert (
        admin.patch(f"/v1/orgs/acme/members/{alice_id}", json={"roles": ["admin"]}).status_code
        == 409
    )


def test_roles_are_validated(eco: Ecosystem) -> None:
    eco.org("acme")
    admin = eco.principal("acme", "admin")
    operator_role = admin.post(
        "/v1/orgs/acme/service-accounts", json={"name": "sneaky", "roles": ["operator"]}
    )
    assert operator_role.status_code == 422
    assert (
        admin.post("/v1/orgs/acme/service-accounts", json={"name": "none", "roles": []}).status_code
        == 422
    )
    assert (
        admin.post(
            "/v1/orgs/acme/service-accounts", json={"name": "x", "roles": ["root"]}
        ).status_code
        == 400
    )


def test_member_cannot_manage_members_or_keys(eco: Ecosystem) -> None:
    eco.org("acme")
    member = eco.principal("acme", "member")
    steward = eco.principal("acme", "steward")
    assert (
        member.post("/v1/orgs/acme/members", json={"name": "Bob", "roles": ["admin"]}).status_code
        == 403
    )
    assert member.get("/v1/orgs/acme/members").status_code == 403
    assert steward.post(f"/v1/orgs/acme/service-accounts/{member.id}/keys").status_code == 403
    assert (
        member.patch(
            f"/v1/orgs/acme/service-accounts/{member.id}", json={"roles": ["admin"]}
        ).status_code
        == 403
    )


def test_key_secret_is_shown_once_and_never_listed(eco: Ecosystem) -> None:
    eco.org("acme")
    admin = eco.principal("acme", "admin")
    bot = eco.principal("acme", "steward", by=admin)
    keys = admin.get(f"/v1/orgs/acme/service-accounts/{bot.id}/keys").json()["items"]
    assert [k["key_id"] for k in keys] == [bot.key_id]
    assert "secret" not in keys[0] and bot.secret not in str(keys)


def test_revoked_key_stops_tokens_and_new_exchanges(eco: Ecosystem) -> None:
    eco.org("acme")
    admin = eco.principal("acme", "admin")
    bot = eco.principal("acme", "steward", by=admin)
    assert bot.get("/v1/auth/whoami").status_code == 200
    revoked = admin.delete(f"/v1/orgs/acme/service-accounts/{bot.id}/keys/{bot.key_id}")
    assert revoked.status_code == 204
    assert bot.get("/v1/auth/whoami").status_code == 401
    again = bot.client.post("/v1/auth/token", json={"key_id": bot.key_id, "secret": bot.secret})
    assert again.status_code == 401


def test_rotation_keeps_the_old_key_for_the_grace_period(eco: Ecosystem, clock) -> None:
    eco.org("acme")
    admin = eco.principal("acme", "admin")
    bot = eco.principal("acme", "steward", by=admin)
    rotated = admin.post(
        f"/v1/orgs/acme/service-accounts/{bot.id}/keys/{bot.key_id}/rotate",
        json={"grace_seconds": 600},
    )
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["key_id"] != bot.key_id
    assert token_for(bot.client, bot.key_id, bot.secret)  # still valid during grace
    clock.advance(seconds=601)
    stale = bot.client.post("/v1/auth/token", json={"key_id": bot.key_id, "secret": bot.secret})
    assert stale.status_code == 401
    assert token_for(bot.client, new["key_id"], new["secret"])


def test_removing_a_principal_revokes_its_access(eco: Ecosystem) -> None:
    eco.org("acme")
    admin = eco.principal("acme", "admin")
    bot = eco.principal("acme", "member", by=admin)
    assert admin.delete(f"/v1/orgs/acme/service-accounts/{bot.id}").status_code == 204
    assert bot.get("/v1/auth/whoami").status_code == 401


def test_role_change_takes_effect_without_a_new_token(eco: Ecosystem) -> None:
    eco.org("acme")
    admin = eco.principal("acme", "admin")
    bot = eco.principal("acme", "member", by=admin)
    assert bot.get("/v1/orgs/acme/members").status_code == 403
    admin.patch(f"/v1/orgs/acme/service-accounts/{bot.id}", json={"roles": ["admin"]})
    assert bot.get("/v1/orgs/acme/members").status_code == 200


def test_operator_seeds_the_first_admin_of_a_new_org(eco: Ecosystem, operator: Caller) -> None:
    eco.org("acme")
    admin = eco.principal("acme", "admin", by=operator)
    assert admin.get("/v1/auth/whoami").json()["roles"] == ["admin"]


def test_key_listing_is_a_page_with_a_cursor_like_every_list(eco: Ecosystem) -> None:
    eco.org("acme")
    admin = eco.principal("acme", "admin")
    bot = eco.principal("acme", "steward", by=admin)
    url = f"/v1/orgs/acme/service-accounts/{bot.id}/keys"
    for _ in range(2):
        assert admin.post(url).status_code == 201
    first = admin.get(url, params={"limit": 2}).json()
    assert set(first) == {"items", "next_cursor"} and len(first["items"]) == 2
    rest = admin.get(url, params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    every = [k["key_id"] for k in first["items"] + rest["items"]]
    assert len(set(every)) == 3 and bot.key_id in every
    assert admin.get(url, params={"limit": 0}).status_code == 422
    assert admin.get(url, params={"cursor": "A"}).status_code == 422
