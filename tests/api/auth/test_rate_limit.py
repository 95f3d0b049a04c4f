"""Rate limits on POST /v1/auth/token: brute force is cut off and audited, honest clients are not.

Requests come through the real HTTP stack from the client addresses a server would put in
the ASGI scope (``Peers`` stands in for that server), and time moves only with the
FrozenClock. The limits are set small here (see ``LIMITS``) and on, as in production;
the other test modules run with them off because every test client shares one address.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.testing import TestClient
from litestar.types import Receive, Scope, Send
from sqlalchemy import select

from escrow.auth.buckets import LocalBuckets
from escrow.auth.rate_limit import (
    AUDIT_WINDOW_SECONDS,
    UNKNOWN_ADDRESS,
    Attempt,
    TokenRateLimits,
    bucket_address,
)
from escrow.clock import FrozenClock
from escrow.components import Components
from escrow.errors import PROBLEM_BASE, AuthenticationError
from escrow.settings import Rate, TokenRateSettings
from storage.models import AuditEvent
from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.audit import log_session

LIMITS = {
    "ESCROW_TOKEN_RATE_LIMIT": "true",
    "ESCROW_TOKEN_RATE_PER_IP": "60",  # one a second
    "ESCROW_TOKEN_BURST_PER_IP": "20",
    "ESCROW_TOKEN_FAILURES_PER_IP": "6",  # one every 10 s
    "ESCROW_TOKEN_FAILURE_BURST_PER_IP": "4",
    "ESCROW_TOKEN_FAILURES_PER_KEY": "12",  # one every 5 s
    "ESCROW_TOKEN_FAILURE_BURST_PER_KEY": "6",
}
IP_FAILURE_BURST, KEY_FAILURE_BURST, IP_BURST = 4, 6, 20
PEER_HEADER = "x-test-peer"


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**settings_env, **LIMITS}


class Peers:
    """An ASGI server stand-in: each request arrives from the address in X-Test-Peer."""

    def __init__(self, app: Litestar) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            peer = dict(scope["headers"]).get(PEER_HEADER.encode())
            if peer is not None:
                scope = {**scope, "client": (peer.decode(), 40000)}
        await self.app(scope, receive, send)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Any]]:
    """The fixtures' own client, behind Peers: without X-Test-Peer it is "testclient"."""
    peers: Any = Peers(app)
    with TestClient(app=peers, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def net(client: TestClient[Any]) -> TestClient[Any]:
    return client


@pytest.fixture
def owner(eco: Ecosystem) -> Caller:
    eco.org("acme")
    return eco.principal("acme", "member")


def _token(net: TestClient[Any], peer: str, key_id: str, secret: str) -> Any:
    return net.post(
        "/v1/auth/token", json={"key_id": key_id, "secret": secret}, headers={PEER_HEADER: peer}
    )


def _limited(response: Any) -> int:
    """Asserts a 429 problem with Retry-After; returns the seconds to wait."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == PROBLEM_BASE + "rate-limited" and body["status"] == 429
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1 and body["retry_after"] == retry_after
    return retry_after


def _rate_limited_events(components: Components) -> list[dict[str, Any]]:
    with log_session(components) as session:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.reason == "rate_limited").order_by(AuditEvent.seq)
        )
        return [json.loads(row.entry) for row in rows]


def test_brute_force_on_a_key_gets_429_and_the_refusals_are_audited(
    net: TestClient[Any], owner: Caller, components: Components
) -> None:
    for _ in range(IP_FAILURE_BURST):
        assert _token(net, "203.0.113.9", owner.key_id, "pes_guess").status_code == 401
    refused = [_token(net, "203.0.113.9", owner.key_id, f"pes_guess{i}") for i in range(5)]
    for response in refused:
        _limited(response)
    # While limited, even the right secret is refused: a guess that hits learns nothing.
    _limited(_token(net, "203.0.113.9", owner.key_id, owner.secret))
    events = _rate_limited_events(components)
    assert len(events) == 1  # the first refusal of the window; the rest are counted
    event = events[0]
    assert (event["action"], event["outcome"]) == ("auth.token", "denied")
    assert event["resource"] == {"type": "api_key", "id": owner.key_id}
    assert event["details"]["limit"] == "address_failures"
    assert event["details"]["unaudited_since_last"] == 0
    assert "client_ip" in event["sensitive"] and owner.secret not in json.dumps(event)
    assert event["orgs"], "the key's organization sees the attack in its own trail"


def test_refusals_after_the_audit_window_are_audited_with_the_count_since(
    net: TestClient[Any], owner: Caller, components: Components, clock: FrozenClock
) -> None:
    for _ in range(IP_FAILURE_BURST):
        _token(net, "203.0.113.9", owner.key_id, "pes_guess")
    for _ in range(7):
        _limited(_token(net, "203.0.113.9", owner.key_id, "pes_guess"))
    clock.advance(seconds=AUDIT_WINDOW_SECONDS)
    # A minute refilled some failures: spend them, then be refused again.
    while _token(net, "203.0.113.9", owner.key_id, "pes_guess").status_code == 401:
        pass
    events = _rate_limited_events(components)
    assert len(events) == 2
    assert events[1]["details"]["unaudited_since_last"] == 6  # 7 refused, 1 of them audited


def test_a_limited_address_recovers_as_the_clock_advances(
    net: TestClient[Any], owner: Caller, clock: FrozenClock
) -> None:
    for _ in range(IP_FAILURE_BURST):
        _token(net, "203.0.113.9", owner.key_id, "pes_guess")
    wait = _limited(_token(net, "203.0.113.9", owner.key_id, "pes_guess"))
    clock.advance(seconds=wait - 1)
    _limited(_token(net, "203.0.113.9", owner.key_id, owner.secret))
    clock.advance(seconds=1)
    assert _token(net, "203.0.113.9", owner.key_id, owner.secret).status_code == 200


def test_one_address_cannot_lock_a_key_out_for_its_owner(
    net: TestClient[Any], owner: Caller, clock: FrozenClock
) -> None:
    """The attacker is held to its address's failure rate, below the key's: never empty."""
    for minute in range(10):
        for _ in range(12):  # guessing as fast as the limit lets through, for 10 minutes
            _token(net, "198.51.100.66", owner.key_id, "pes_guess")
            clock.advance(seconds=5)
        assert _token(net, "192.0.2.10", owner.key_id, owner.secret).status_code == 200, minute


def test_a_key_locked_by_many_addresses_recovers_when_they_stop(
    net: TestClient[Any], owner: Caller, clock: FrozenClock
) -> None:
    """The documented bound: it takes more addresses than burst ratio, and only while they try."""
    attackers = ["198.51.100.1", "198.51.100.2"]  # 2 x 4 failures > the key's 6
    for attacker in attackers:
        for _ in range(IP_FAILURE_BURST):
            _token(net, attacker, owner.key_id, "pes_guess")
    wait = _limited(_token(net, "192.0.2.10", owner.key_id, owner.secret))
    assert wait <= 60 // 12  # one failure's refill of the key's bucket
    clock.advance(seconds=wait)
    assert _token(net, "192.0.2.10", owner.key_id, owner.secret).status_code == 200


def test_the_address_failure_limit_spans_key_ids(
    net: TestClient[Any], owner: Caller, eco: Ecosystem
) -> None:
    other = eco.principal("acme", "steward")
    for i in range(IP_FAILURE_BURST):
        assert _token(net, "203.0.113.9", f"pek_sprayed{i}", "pes_guess").status_code == 401
    _limited(_token(net, "203.0.113.9", "pek_never_tried", "pes_guess"))
    _limited(_token(net, "203.0.113.9", other.key_id, other.secret))
    assert _token(net, "192.0.2.10", other.key_id, other.secret).status_code == 200


def test_an_honest_client_refreshing_tokens_is_never_limited(
    net: TestClient[Any], owner: Caller, clock: FrozenClock
) -> None:
    """Successes never pay the failure buckets; a token a minute is far below the address rate."""
    for _ in range(3 * KEY_FAILURE_BURST):
        assert _token(net, "192.0.2.10", owner.key_id, owner.secret).status_code == 200
    for _ in range(2 * IP_BURST):  # a day's refreshes at one a minute, in sampled steps
        clock.advance(minutes=36)
        assert _token(net, "192.0.2.10", owner.key_id, owner.secret).status_code == 200


def test_every_request_from_one_address_counts_toward_its_burst(
    net: TestClient[Any], owner: Caller
) -> None:
    for _ in range(IP_BURST):
        assert _token(net, "192.0.2.20", owner.key_id, owner.secret).status_code == 200
    assert _limited(_token(net, "192.0.2.20", owner.key_id, owner.secret)) == 1
    assert _token(net, "192.0.2.21", owner.key_id, owner.secret).status_code == 200


def test_a_disabled_limiter_admits_everything(clock: FrozenClock) -> None:
    settings = TokenRateSettings(
        enabled=False, per_ip=Rate(1, 1), failures_per_ip=Rate(1, 1), failures_per_key=Rate(1, 2)
    )
    limits = TokenRateLimits(settings, clock, LocalBuckets())
    for _ in range(100):
        attempt = limits.admit("pek_x", "203.0.113.9")
        assert isinstance(attempt, Attempt)
        with pytest.raises(AuthenticationError), attempt:
            raise AuthenticationError("invalid client credentials")


@pytest.mark.parametrize(
    ("client", "subject"),
    [
        ("192.0.2.10", "192.0.2.10"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::9", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.10", "192.0.2.10"),
        (None, UNKNOWN_ADDRESS),
        ("unix:" + "/run/escrow" * 40, ("unix:" + "/run/escrow" * 40)[:128]),
    ],
)
def test_ipv6_clients_share_a_bucket_per_64(client: str | None, subject: str) -> None:
    assert bucket_address(client) == subject
