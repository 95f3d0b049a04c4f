"""Recipient profiles: issued once by admins, listed without secrets, revoked at once."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from escrow.clock import FrozenClock
from escrow.components import Components
from storage.models import AuditEvent, SharingProfile
from tests.api.sharing.conftest import Recipient, Sharing
from tests.fixtures.audit import log_session


def test_admin_gets_the_protocol_profile_file_once(
    sharing: Sharing, components: Components
) -> None:
    admin = sharing.partner_admin
    response = admin.post(
        "/v1/orgs/globex/sharing-profiles", json={"name": "bi", "expires_in": 3600}
    )
    assert response.status_code == 201, response.text
    profile = response.json()
    assert set(profile) == {"shareCredentialsVersion", "endpoint", "bearerToken", "expirationTime"}
    assert profile["shareCredentialsVersion"] == 1
    assert profile["endpoint"].endswith("/delta-sharing/")
    assert profile["expirationTime"].endswith("Z")
    profile_id = response.headers["location"].rsplit("/", 1)[1]
    listed = admin.get("/v1/orgs/globex/sharing-profiles").json()["items"]
    assert [p["id"] for p in listed] == [profile_id]
    assert profile["bearerToken"] not in json.dumps(listed)
    with log_session(components) as session:
        stored = session.get(SharingProfile, profile_id)
        assert stored is not None and profile["bearerToken"] not in stored.secret_hash
        actions = list(session.scalars(select(AuditEvent.action)))
    assert "sharing.profile.create" in actions


def test_only_the_organizations_admins_manage_its_profiles(sharing: Sharing) -> None:
    body = {"name": "bi", "expires_in": 3600}
    member = sharing.partner_member.post("/v1/orgs/globex/sharing-profiles", json=body)
    assert member.status_code == 403
    operator = sharing.eco.operator.post("/v1/orgs/globex/sharing-profiles", json=body)
    assert operator.status_code == 403
    foreign = sharing.outsider_admin.post("/v1/orgs/globex/sharing-profiles", json=body)
    assert foreign.status_code == 404
    too_long = sharing.partner_admin.post(
        "/v1/orgs/globex/sharing-profiles", json={"name": "bi", "expires_in": 10**9}
    )
    assert too_long.status_code == 422
    too_short = sharing.partner_admin.post(
        "/v1/orgs/globex/sharing-profiles", json={"name": "bi", "expires_in": 59}
    )
    assert too_short.status_code == 422


def test_profile_tokens_and_access_tokens_do_not_cross_over(
    sharing: Sharing, recipient: Recipient, client: Any
) -> None:
    on_v1 = client.get("/v1/datasets", headers=recipient.headers)
    assert on_v1.status_code == 401
    access = sharing.partner_admin.headers
    on_protocol = client.get("/delta-sharing/shares", headers=access)
    assert on_protocol.status_code == 401
    assert on_protocol.json()["errorCode"] == "UNAUTHENTICATED"
    assert client.get("/delta-sharing/shares").json()["errorCode"] == "UNAUTHENTICATED"


def test_a_revoked_profile_is_refused_at_once(
    sharing: Sharing, recipient: Recipient, components: Components
) -> None:
    assert recipient.get("/shares").status_code == 200
    profile_id = sharing.partner_admin.get("/v1/orgs/globex/sharing-profiles").json()["items"][0][
        "id"
    ]
    revoked = sharing.partner_admin.delete(f"/v1/orgs/globex/sharing-profiles/{profile_id}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = recipient.get("/shares")
    assert refused.status_code == 401
    assert refused.json() == {
        "errorCode": "UNAUTHENTICATED",
        "message": "bearer token rejected: revoked_profile",
    }
    with log_session(components) as session:
        reasons = list(
            session.scalars(
                select(AuditEvent.reason).where(AuditEvent.action == "sharing.authenticate")
            )
        )
    assert reasons == ["revoked_profile"]


def test_an_expired_profile_is_refused(sharing: Sharing, client: Any, clock: FrozenClock) -> None:
    recipient = Recipient(client, sharing.profile(expires_in=120))
    assert recipient.get("/shares").status_code == 200
    clock.advance(seconds=121)
    assert recipient.get("/shares").json()["message"] == "bearer token rejected: expired_profile"


def test_a_forged_token_for_a_real_profile_is_refused(recipient: Recipient, client: Any) -> None:
    token = recipient.profile["bearerToken"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = client.get("/delta-sharing/shares", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["message"] == "bearer token rejected: invalid"
