"""OAuth 2.0 at the token and revocation endpoints, through HTTP in process (issue 19).

tests/interop runs the third-party clients against a live server; these are the rules
those clients do not exercise: refusals of malformed requests, audit, and who may revoke.
"""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from escrow.components import Components
from storage.models import AuditEvent
from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.audit import log_session

TOKEN, REVOKE = "/v1/auth/token", "/v1/auth/revoke"
GRANT = {"grant_type": "client_credentials"}


@pytest.fixture
def member(eco: Ecosystem) -> Caller:
    eco.org("acme")
    return eco.principal("acme", "member")


def _last(components: Components) -> AuditEvent:
    with log_session(components) as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    return event


def _oauth_error(response, status: int, error: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error and body["error_description"], body
    return dict(body)


def test_basic_and_form_tokens_are_not_cached_and_json_tokens_neither(member: Caller) -> None:
    basic = member.client.post(TOKEN, data=GRANT, auth=(member.key_id, member.secret))
    assert basic.status_code == 200 and basic.headers["cache-control"] == "no-store"
    assert basic.headers["pragma"] == "no-cache"
    legacy = member.client.post(TOKEN, json={"key_id": member.key_id, "secret": member.secret})
    assert legacy.status_code == 200 and legacy.headers["cache-control"] == "no-store"


def test_basic_credentials_are_form_urlencoded_before_base64(member: Caller) -> None:
    """RFC 6749 s2.3.1: a client library may percent-encode the id and the secret."""
    raw = f"{member.key_id.replace('_', '%5F')}:{member.secret}".encode()
    header = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    assert member.client.post(TOKEN, data=GRANT, headers=header).status_code == 200


def test_two_client_authentication_methods_in_one_request_are_refused(member: Caller) -> None:
    form = {**GRANT, "client_id": member.key_id, "client_secret": member.secret}
    response = member.client.post(TOKEN, data=form, auth=(member.key_id, member.secret))
    _oauth_error(response, 400, "invalid_request")


def test_a_repeated_parameter_is_invalid_request(member: Caller) -> None:
    body = f"grant_type=client_credentials&grant_type=client_credentials&client_id={member.key_id}"
    response = member.client.post(
        TOKEN, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    _oauth_error(response, 400, "invalid_request")


def test_missing_client_authentication_is_invalid_client_with_a_basic_challenge(
    member: Caller,
) -> None:
    response = member.client.post(TOKEN, data=GRANT)
    _oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic")
    garbled = member.client.post(TOKEN, data=GRANT, headers={"Authorization": "Basic %%%"})
    _oauth_error(garbled, 401, "invalid_client")


def test_wrong_and_unknown_clients_get_the_same_answer_and_are_audited(
    member: Caller, components: Components
) -> None:
    wrong = member.client.post(TOKEN, data=GRANT, auth=(member.key_id, "pes_wrong"))
    last = _last(components)
    assert (last.action, last.outcome, last.reason) == ("auth.token", "denied", "bad_secret")
    unknown = member.client.post(TOKEN, data=GRANT, auth=("pek_nobody", "pes_wrong"))
    assert _oauth_error(wrong, 401, "invalid_client") == _oauth_error(
        unknown, 401, "invalid_client"
    )
    assert _last(components).reason == "unknown_key"


def test_a_client_revokes_its_own_token_with_a_form_and_basic_auth(member: Caller) -> None:
    revoked = member.client.post(
        REVOKE, data={"token": member.token}, auth=(member.key_id, member.secret)
    )
    assert revoked.status_code == 200, revoked.text
    whoami = member.client.get(
        "/v1/auth/whoami", headers={"Authorization": f"Bearer {member.token}"}
    )
    assert whoami.status_code == 401


def test_a_client_may_not_revoke_another_principals_token(eco: Ecosystem, member: Caller) -> None:
    other = eco.principal("acme", "member", name="other")
    refused = member.client.post(
        REVOKE, data={"token": other.token}, auth=(member.key_id, member.secret)
    )
    _oauth_error(refused, 400, "unauthorized_client")
    admin = eco.principal("acme", "admin")
    allowed = admin.client.post(
        REVOKE,
        data={"token": other.token, "client_id": admin.key_id, "client_secret": admin.secret},
    )
    assert allowed.status_code == 200, allowed.text


def test_revocation_with_a_wrong_client_secret_is_refused_and_audited(
    member: Caller, components: Components
) -> None:
    refused = member.client.post(
        REVOKE, data={"token": member.token}, auth=(member.key_id, "pes_wrong")
    )
    _oauth_error(refused, 401, "invalid_client")
    last = _last(components)
    assert (last.action, last.outcome, last.reason) == ("auth.client", "denied", "bad_secret")


def test_revocation_needs_a_token_parameter(member: Caller) -> None:
    response = member.client.post(REVOKE, data={}, auth=(member.key_id, member.secret))
    _oauth_error(response, 400, "invalid_request")


def test_the_json_revocation_still_needs_a_bearer_token(
    member: Caller, components: Components
) -> None:
    response = member.client.post(REVOKE, json={"token": member.token})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert _last(components).reason == "missing_token"


def test_rfc_8414_metadata_names_the_endpoints_under_the_issuer(
    member: Caller, components: Components
) -> None:
    metadata = member.client.get("/.well-known/oauth-authorization-server").json()
    issuer = components.settings.token_issuer
    assert metadata["issuer"] == issuer
    assert metadata["token_endpoint"] == issuer.rstrip("/") + TOKEN
    assert metadata["revocation_endpoint"] == issuer.rstrip("/") + REVOKE
    assert metadata["jwks_uri"] == issuer.rstrip("/") + "/.well-known/jwks.json"
    assert metadata["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]


def test_unknown_parameters_are_ignored_even_when_repeated(member: Caller) -> None:
    """RFC 6749 s3.2; found by the fuzzer once the form was documented as open."""
    body = f"x=1&x=2&grant_type=client_credentials&client_id={member.key_id}"
    body += f"&client_secret={member.secret}"
    response = member.client.post(
        TOKEN, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 200, response.text
