"""Authlib and PyJWT, unmodified, against the live server's OAuth 2.0 endpoints (issue 19)."""

from __future__ import annotations

import itertools

import httpx
import jwt
import pytest
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from tests.fixtures.live import LiveServer
from tests.interop.conftest import Partner

# Failed attempts count per client address: each refusal test speaks from its own (the
# live server trusts its loopback proxy's X-Forwarded-For), so none trips the rate limit.
_ADDRESSES = (f"192.0.2.{n}" for n in itertools.count(10))


def _session(partner: Partner, method: str, secret: str | None = None) -> OAuth2Session:
    session = OAuth2Session(
        partner.credential.key_id,
        secret or partner.credential.secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
    )
    session.headers["X-Forwarded-For"] = next(_ADDRESSES)
    return session


def _whoami(server: LiveServer, token: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_gets_a_token_with_either_client_authentication(
    live_server: LiveServer, partner: Partner, method: str
) -> None:
    """Issue 19: Authlib's default, client_secret_basic, got 422 (client_id wanted in the body)."""
    with _session(partner, method) as session:
        token = session.fetch_token(
            f"{live_server.url}/v1/auth/token", grant_type="client_credentials"
        )
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0
    assert _whoami(live_server, token["access_token"]).json()["org"] == partner.org


def test_token_responses_are_not_cached(live_server: LiveServer, partner: Partner) -> None:
    """Issue 19: RFC 6749 s5.1 wants Cache-Control: no-store (and Pragma: no-cache)."""
    response = httpx.post(
        f"{live_server.url}/v1/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.credential.key_id, partner.credential.secret),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


def test_authlib_reads_invalid_client_for_a_wrong_secret(
    live_server: LiveServer, partner: Partner
) -> None:
    """Issue 19: errors were problem+json, which OAuth clients cannot read."""
    with (
        _session(partner, "client_secret_basic", "pes_wrong") as session,
        pytest.raises(OAuthError) as refused,
    ):
        session.fetch_token(f"{live_server.url}/v1/auth/token", grant_type="client_credentials")
    assert refused.value.error == "invalid_client"
    raw = httpx.post(
        f"{live_server.url}/v1/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.credential.key_id, "pes_wrong"),
        headers={"X-Forwarded-For": next(_ADDRESSES)},
        timeout=10,
    )
    assert raw.status_code == 401 and raw.headers["www-authenticate"].startswith("Basic")
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.json()["error"] == "invalid_client" and raw.json()["error_description"]


def test_authlib_reads_unsupported_grant_type_for_a_password_grant(
    live_server: LiveServer, partner: Partner
) -> None:
    """Issue 19: grant_type=password got 422 rather than 400 unsupported_grant_type."""
    with (
        _session(partner, "client_secret_post") as session,
        pytest.raises(OAuthError) as refused,
    ):
        session.fetch_token(
            f"{live_server.url}/v1/auth/token",
            grant_type="password",
            username="someone",
            password="secret",
        )
    assert refused.value.error == "unsupported_grant_type"


def test_a_request_without_grant_type_is_invalid_request(live_server: LiveServer) -> None:
    response = httpx.post(
        f"{live_server.url}/v1/auth/token", data={"client_id": "pek_x"}, timeout=10
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_revokes_a_token_per_rfc_7009(
    live_server: LiveServer, partner: Partner, method: str
) -> None:
    """Issue 19: a form body with client authentication got 401 missing_token."""
    url = live_server.url
    with _session(partner, method) as session:
        token = session.fetch_token(f"{url}/v1/auth/token", grant_type="client_credentials")
        assert _whoami(live_server, token["access_token"]).status_code == 200
        revoked = session.revoke_token(
            f"{url}/v1/auth/revoke", token=token["access_token"], token_type_hint="access_token"
        )
        assert revoked.status_code == 200, revoked.text
        assert _whoami(live_server, token["access_token"]).status_code == 401
        # RFC 7009 s2.2: an invalid token is not an error.
        again = session.revoke_token(f"{url}/v1/auth/revoke", token="not-a-token")
        assert again.status_code == 200


def test_revocation_with_a_wrong_client_secret_is_invalid_client(
    live_server: LiveServer, partner: Partner
) -> None:
    with _session(partner, "client_secret_basic", "pes_wrong") as session:
        refused = session.revoke_token(f"{live_server.url}/v1/auth/revoke", token="t")
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_rfc_8414_metadata_validates_and_leads_to_working_endpoints(
    live_server: LiveServer, partner: Partner
) -> None:
    response = httpx.get(f"{live_server.url}/.well-known/oauth-authorization-server", timeout=10)
    assert response.status_code == 200
    metadata = AuthorizationServerMetadata(response.json())
    # RFC 8414 wants an https issuer (the test server is http), and Authlib wants a response
    # type although no authorization endpoint exists to use one: every other rule holds.
    metadata.validate_issuer = lambda: None
    metadata.validate_response_types_supported = lambda: None
    metadata.validate()
    assert metadata["response_types_supported"] == []
    assert metadata["grant_types_supported"] == ["client_credentials"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    with _session(partner, "client_secret_basic") as session:
        token = session.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
    keys = jwt.PyJWKClient(metadata["jwks_uri"])
    signing_key = keys.get_signing_key_from_jwt(token["access_token"])
    claims = jwt.decode(
        token["access_token"],
        signing_key.key,
        algorithms=["EdDSA"],
        audience="partner-escrow",
        issuer=metadata["issuer"],
    )
    assert claims["org"] == partner.org
