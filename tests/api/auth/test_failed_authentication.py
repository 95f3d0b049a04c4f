"""Failed bearer authentication: counted per address and window, not one event per request,
and rate limited like the token endpoint (429 with Retry-After). Time moves only with the
FrozenClock; every request comes from the test client's one address."""

from __future__ import annotations

import json
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from escrow.clock import FrozenClock
from escrow.components import Components
from escrow.errors import PROBLEM_BASE
from storage.models import AuditEvent, AuditEventOrg
from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.audit import log_session

JUNK = {"Authorization": "Bearer not.a.token"}


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {
        **settings_env,
        "ESCROW_AUTH_FAILURE_LIMIT": "true",
        "ESCROW_AUTH_FAILURES_PER_IP": "6",  # one every 10 s
        "ESCROW_AUTH_FAILURE_BURST_PER_IP": "40",
        "ESCROW_AUTH_FAILURE_WINDOW": "60",
    }


def _failure_events(components: Components) -> list[tuple[dict[str, Any], list[str]]]:
    with log_session(components) as session:
        rows = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "auth.authenticate", AuditEvent.outcome == "denied")
            .order_by(AuditEvent.seq)
        ).all()
        return [
            (
                json.loads(row.entry),
                list(
                    session.scalars(
                        select(AuditEventOrg.org_id).where(AuditEventOrg.seq == row.seq)
                    )
                ),
            )
            for row in rows
        ]


def _start_of_a_window(clock: FrozenClock) -> None:
    """So that the seconds a test moves on stay inside one audit window."""
    clock.advance(seconds=60 - clock.now().timestamp() % 60)


def test_bad_tokens_append_one_audit_event_per_address_and_window(
    client: TestClient[Litestar], components: Components, clock: FrozenClock
) -> None:
    for _ in range(30):
        assert client.get("/v1/auth/whoami", headers=JUNK).status_code == 401
    for _ in range(5):
        assert client.get("/v1/auth/whoami").status_code == 401  # no token at all
    [(first, scope)] = _failure_events(components)
    assert first["reason"] == "signature" and scope == []  # operators' eyes only
    assert first["details"] == {"window_seconds": 60, "failures_since_last_event": {}}
    clock.advance(seconds=60)
    assert client.get("/v1/auth/whoami", headers=JUNK).status_code == 401
    events = _failure_events(components)
    assert len(events) == 2
    # The next window's event carries the tally of the failures the first one did not.
    assert events[1][0]["details"]["failures_since_last_event"] == {
        "signature": 29,
        "missing_token": 5,
    }


def test_failed_bearer_authentication_is_rate_limited_with_retry_after(
    eco: Ecosystem, client: TestClient[Litestar], components: Components, clock: FrozenClock
) -> None:
    eco.org("acme")
    member: Caller = eco.principal("acme", "member")
    _start_of_a_window(clock)
    for _ in range(40):
        assert client.get("/v1/auth/whoami", headers=JUNK).status_code == 401
    refused = client.get("/v1/auth/whoami", headers=JUNK)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"] == PROBLEM_BASE + "rate-limited"
    assert refused.headers["retry-after"] == "10"
    # The address is refused before any token is looked at, a good one included.
    assert member.get("/v1/auth/whoami").status_code == 429
    clock.advance(seconds=10)
    assert member.get("/v1/auth/whoami").status_code == 200
    assert client.get("/v1/auth/whoami", headers=JUNK).status_code == 401
    assert client.get("/v1/auth/whoami", headers=JUNK).status_code == 429
    # 43 failures and refusals, one window: one event.
    assert len(_failure_events(components)) == 1


def test_a_suspended_orgs_token_is_still_audited_in_its_trail(
    eco: Ecosystem, components: Components
) -> None:
    acme = eco.org("acme")
    member = eco.principal("acme", "member")
    assert eco.operator.post("/v1/orgs/acme/suspend").status_code == 200
    for _ in range(2):
        assert member.get("/v1/auth/whoami").status_code == 401
    suspended = [
        (entry, scope)
        for entry, scope in _failure_events(components)
        if entry["reason"] == "suspended_org"
    ]
    assert len(suspended) == 2 and all(scope == [acme["id"]] for _, scope in suspended)
