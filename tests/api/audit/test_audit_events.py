"""Every state change and every denied or failed-authentication attempt lands in the audit log."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from crypto import canonical_json
from escrow.components import Components
from storage.models import AuditEvent, AuditEventOrg, Organization
from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.audit import log_session


def _events(components: Components) -> list[AuditEvent]:
    with log_session(components) as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def _last(components: Components) -> AuditEvent:
    return _events(components)[-1]


def test_sequence_is_gap_free_and_entries_are_canonical(eco: Ecosystem, components) -> None:
    eco.org("acme")
    eco.principal("acme", "admin")
    events = _events(components)
    assert [e.seq for e in events] == list(range(len(events)))
    for e in events:
        assert canonical_json(json.loads(e.entry)).decode() == e.entry
        assert json.loads(e.entry)["seq"] == e.seq


def test_allowed_changes_are_audited_with_actor_and_request_id(
    eco: Ecosystem, operator: Caller, components: Components
) -> None:
    operator.post(
        "/v1/orgs",
        json={"slug": "acme", "name": "Acme", "tier": "core"},
        headers={"X-Request-ID": "req-create-acme"},
    )
    last = _last(components)
    assert (last.action, last.outcome, last.request_id) == (
        "org.create",
        "success",
        "req-create-acme",
    )
    assert last.actor_id == operator.id
    assert last.policy_version is None or len(last.policy_version) == 64


def test_denied_attempts_are_audited(eco: Ecosystem, components: Components) -> None:
    acme = eco.org("acme")
    eco.org("globex")
    admin = eco.principal("acme", "admin")
    admin.post(
        "/v1/orgs",
        json={"slug": "evil", "name": "Evil", "tier": "core"},
        headers={"X-Request-ID": "req-denied"},
    )
    last = _last(components)
    assert (last.action, last.outcome, last.reason) == ("create_org", "denied", "policy")
    assert last.request_id == "req-denied" and last.actor_id == admin.id
    assert len(last.policy_version or "") == 64
    admin.get("/v1/orgs/globex")
    concealed, for_operators = _events(components)[-2:]
    assert concealed.outcome == "denied" and concealed.resource_type == "organization"
    assert concealed.resource_id == "globex"  # as the prober named it, not globex's id
    with log_session(components) as session:
        globex = session.scalar(select(Organization).where(Organization.slug == "globex"))
        orgs = set(
            session.scalars(select(AuditEventOrg.org_id).where(AuditEventOrg.seq == concealed.seq))
        )
        operator_scope = set(
            session.scalars(
                select(AuditEventOrg.org_id).where(AuditEventOrg.seq == for_operators.seq)
            )
        )
    # Only the prober's org reads the probe; the target org is named for operators alone.
    assert globex is not None and orgs == {acme["id"]}
    assert for_operators.action == "authz.concealed_target" and operator_scope == set()
    details = json.loads(for_operators.entry)["details"]
    assert details["target_orgs"] == [globex.id] and "denial" not in details
    assert for_operators.request_id == concealed.request_id  # the operators' link to it


def test_failed_authentication_is_audited(eco: Ecosystem, components: Components) -> None:
    eco.org("acme")
    bot = eco.principal("acme", "member")
    bot.client.post("/v1/auth/token", json={"key_id": bot.key_id, "secret": "wrong"})
    last = _last(components)
    assert (last.action, last.outcome, last.reason) == ("auth.token", "denied", "bad_secret")
    assert last.resource_id == bot.key_id and bot.secret not in last.entry
    bot.client.get("/v1/orgs", headers={"Authorization": "Bearer nonsense"})
    last = _last(components)
    assert (last.action, last.outcome) == ("auth.authenticate", "denied")


def test_secrets_never_reach_the_audit_log(eco: Ecosystem, components: Components) -> None:
    eco.org("acme")
    bot = eco.principal("acme", "member")
    assert all(bot.secret not in e.entry and bot.token not in e.entry for e in _events(components))


def test_failed_audit_append_fails_the_request_and_changes_nothing(
    eco: Ecosystem, operator: Caller, components: Components, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("audit storage is broken")

    monkeypatch.setattr("escrow.audit.log.record_events", explode)
    response = operator.post("/v1/orgs", json={"slug": "acme", "name": "A", "tier": "core"})
    monkeypatch.undo()
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert operator.get("/v1/orgs/acme").status_code == 404


@pytest.mark.parametrize("roles", [["member"], ["auditor"]])
def test_read_only_calls_do_not_write_events(eco: Ecosystem, components, roles) -> None:
    eco.org("acme")
    caller = eco.principal("acme", *roles)
    before = len(_events(components))
    caller.get("/v1/orgs/acme")
    assert len(_events(components)) == before
