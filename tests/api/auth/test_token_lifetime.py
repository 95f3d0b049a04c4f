"""A token signed with the service's key is still refused outside the lifetime it could have
been issued with: before its ``nbf``, or when it lives longer than the configured TTL."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from escrow.clock import FrozenClock
from escrow.components import Components
from tests.fixtures.api import Caller, Ecosystem

TTL, SKEW = 900, 30


@pytest.fixture
def member(eco: Ecosystem) -> Caller:
    eco.org("acme")
    return eco.principal("acme", "member")


def _forged(components: Components, member: Caller, **override: Any) -> str:
    claims = jwt.decode(member.token, options={"verify_signature": False})
    claims.update(override)
    return jwt.encode(
        claims,
        components.keyring.token_signing_key.private_key,
        algorithm="EdDSA",
        headers={"kid": components.authentication.tokens.kid},
    )


def _whoami(member: Caller, token: str) -> Any:
    return member.client.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})


def _now(clock: FrozenClock) -> int:
    return int(clock.now().timestamp())


def test_a_token_used_before_its_nbf_is_refused(
    member: Caller, components: Components, clock: FrozenClock
) -> None:
    now = _now(clock)
    token = _forged(components, member, iat=now, nbf=now + SKEW + 60)
    early = _whoami(member, token)
    assert early.status_code == 401, early.text
    assert early.json()["type"].endswith("/unauthenticated")
    clock.advance(seconds=60)
    assert _whoami(member, token).status_code == 200


def test_a_token_whose_nbf_is_within_the_clock_skew_is_accepted(
    member: Caller, components: Components, clock: FrozenClock
) -> None:
    now = _now(clock)
    assert _whoami(member, _forged(components, member, nbf=now + SKEW)).status_code == 200


@pytest.mark.parametrize("nbf", ["soon", 1.5, True, None])
def test_a_token_with_a_malformed_nbf_is_refused(
    member: Caller, components: Components, nbf: Any
) -> None:
    assert _whoami(member, _forged(components, member, nbf=nbf)).status_code == 401


def test_a_ten_year_token_signed_with_the_key_is_refused(
    member: Caller, components: Components, clock: FrozenClock
) -> None:
    now = _now(clock)
    decade = _whoami(member, _forged(components, member, iat=now, exp=now + 10 * 365 * 86400))
    assert decade.status_code == 401, decade.text
    assert decade.json()["type"].endswith("/unauthenticated")


def test_a_token_living_longer_than_the_ttl_plus_skew_is_refused(
    member: Caller, components: Components, clock: FrozenClock
) -> None:
    now = _now(clock)
    longest = _forged(components, member, iat=now, exp=now + TTL + SKEW)
    assert _whoami(member, longest).status_code == 200
    too_long = _forged(components, member, iat=now, exp=now + TTL + SKEW + 1)
    assert _whoami(member, too_long).status_code == 401
    # Back-dating iat does not stretch it either: the window counts from iat or nbf.
    backdated = _forged(components, member, iat=now - 3600, nbf=now, exp=now + TTL)
    assert _whoami(member, backdated).status_code == 401


def test_issued_tokens_live_exactly_the_configured_ttl(member: Caller) -> None:
    claims = jwt.decode(member.token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == TTL
    assert _whoami(member, member.token).status_code == 200
