"""Token exchange and the attacks a token verifier must refuse."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from escrow.components import Components
from tests.fixtures.api import Caller, Ecosystem


def _claims(components: Components, caller: Caller, **override: Any) -> dict[str, Any]:
    token = caller.token
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(override)
    return claims


def _sign(components: Components, claims: dict[str, Any]) -> str:
    return jwt.encode(
        claims,
        components.keyring.token_signing_key.private_key,
        algorithm="EdDSA",
        headers={"kid": components.authentication.tokens.kid},
    )


def _status(caller: Caller, token: str) -> int:
    return caller.client.get(
        "/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"}
    ).status_code


@pytest.fixture
def member(eco: Ecosystem) -> Caller:
    eco.org("acme")
    return eco.principal("acme", "member")


def test_token_exchange_json_and_oauth_form(member: Caller) -> None:
    body = member.client.post(
        "/v1/auth/token", json={"key_id": member.key_id, "secret": member.secret}
    ).json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    form = member.client.post(
        "/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": member.key_id,
            "client_secret": member.secret,
        },
    )
    assert form.status_code == 200 and form.json()["access_token"]
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "EdDSA"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert {"iss", "aud", "exp", "iat", "jti", "sub", "org", "roles"} <= claims.keys()
    assert claims["org"] == "acme" and claims["roles"] == ["member"]


def test_wrong_secret_and_unknown_key_get_the_same_answer(member: Caller) -> None:
    wrong = member.client.post("/v1/auth/token", json={"key_id": member.key_id, "secret": "nope"})
    unknown = member.client.post("/v1/auth/token", json={"key_id": "pek_x", "secret": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.headers["www-authenticate"].startswith("Bearer")


def test_jwks_verifies_issued_tokens(member: Caller) -> None:
    jwks = member.client.get("/.well-known/jwks.json").json()
    key = jwt.PyJWK(jwks["keys"][0])
    claims = jwt.decode(member.token, key, algorithms=["EdDSA"], audience="partner-escrow")
    assert claims["sub"] == member.id


def test_expired_token_is_rejected(member: Caller, clock) -> None:
    clock.advance(seconds=900 + 31)
    response = member.get("/v1/auth/whoami")
    assert response.status_code == 401 and response.json()["detail"].endswith("expired")


def test_wrong_audience_and_issuer_are_rejected(member: Caller, components: Components) -> None:
    assert _status(member, _sign(components, _claims(components, member, aud="other"))) == 401
    assert _status(member, _sign(components, _claims(components, member, iss="http://evil"))) == 401
    assert _status(member, _sign(components, _claims(components, member))) == 200


def test_alg_none_is_rejected(member: Caller, components: Components) -> None:
    forged = jwt.encode(_claims(components, member, roles=["admin"]), key="", algorithm="none")
    assert _status(member, forged) == 401


def test_hs256_signed_with_the_public_key_is_rejected(
    member: Caller, components: Components
) -> None:
    public = components.keyring.token_signing_key.public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": components.authentication.tokens.kid}
    forged = _hand_made_hs256(header, _claims(components, member), public)
    assert _status(member, forged) == 401


def test_tampered_payload_is_rejected(member: Caller) -> None:
    header, payload, signature = member.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["admin"]
    claims["sub"] = "someone-else"
    tampered = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    assert _status(member, f"{header}.{tampered}.{signature}") == 401


def test_token_signed_by_another_key_is_rejected(member: Caller, components: Components) -> None:
    other = jwt.encode(
        _claims(components, member),
        Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": components.authentication.tokens.kid},
    )
    assert _status(member, other) == 401


def test_missing_claims_are_rejected(member: Caller, components: Components) -> None:
    claims = _claims(components, member)
    del claims["jti"]
    assert _status(member, _sign(components, claims)) == 401


def test_revoked_token_is_rejected_and_others_keep_working(member: Caller) -> None:
    second = member.client.post(
        "/v1/auth/token", json={"key_id": member.key_id, "secret": member.secret}
    )
    other_token = second.json()["access_token"]
    assert member.post("/v1/auth/revoke", json={"token": member.token}).status_code == 200
    assert _status(member, member.token) == 401
    assert _status(member, other_token) == 200
    # RFC 7009: an invalid token is "revoked" without error.
    again = member.client.post(
        "/v1/auth/revoke",
        json={"token": "garbage"},
        headers={"Authorization": f"Bearer {other_token}"},
    )
    assert again.status_code == 200


def test_a_member_cannot_revoke_someone_elses_token(eco: Ecosystem, member: Caller) -> None:
    other = eco.principal("acme", "steward")
    assert member.post("/v1/auth/revoke", json={"token": other.token}).status_code == 403
    admin = eco.principal("acme", "admin")
    assert admin.post("/v1/auth/revoke", json={"token": other.token}).status_code == 200
    assert _status(other, other.token) == 401


def test_missing_or_malformed_authorization_header(member: Caller) -> None:
    client = member.client
    assert client.get("/v1/orgs").status_code == 401
    assert client.get("/v1/orgs", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/v1/orgs", headers={"Authorization": "Bearer "}).status_code == 401
    assert client.get("/v1/orgs", headers={"Authorization": "Bearer a.b.c"}).status_code == 401


def _hand_made_hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"
