"""Explanations name the rules that proved a decision, or what the actor lacked."""

from __future__ import annotations

from pathlib import Path

import pytest

from escrow.policy.engine import PolicyEngine
from escrow.policy.testing import actor, dataset, organization

POLICIES = Path(__file__).resolve().parents[3] / "policies"


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.from_directory(POLICIES)


def test_an_allowed_action_names_the_permission_and_the_role_behind_it(
    engine: PolicyEngine,
) -> None:
    steward = actor({"org": "acme", "roles": ["steward"]})
    why = engine.explain(steward, "download", dataset({"owner": "acme"}))
    assert why.allowed and why.policy_version == engine.version
    assert why.rule is not None
    assert why.rule.endswith('resource Dataset { "download" if "member" on "owner"; }')
    assert why.path[0].startswith("main.polar:")
    assert "allow(actor: Principal, action, resource) if actor.org_active" in why.path[0]
    # member is implied by steward, which the organization's has_role rule grants.
    shown = [line.split(": ", 1)[1] for line in why.path]
    assert 'resource Organization { "member" if "steward"; }' in shown
    assert any(line.startswith("has_role(actor: Principal, role: String") for line in shown)
    assert why.roles_on_resource == ("member on owner", "steward on owner")


def test_a_relation_grant_names_the_relation(engine: PolicyEngine) -> None:
    operator = actor({"org": "platform", "roles": ["operator"]})
    why = engine.explain(operator, "change_status", organization("acme"))
    assert why.allowed
    assert why.rule is not None
    assert why.rule.endswith(
        'resource Organization { "change_status" if "operator" on "platform"; }'
    )
    assert any(line.endswith("if actor.is_operator;") for line in why.path)
    assert "operator on platform" in why.roles_on_resource


def test_a_custom_rule_is_named_as_written(engine: PolicyEngine) -> None:
    partner = actor({"org": "globex", "roles": ["member"]})
    why = engine.explain(partner, "read", organization({"slug": "acme", "partners": ["globex"]}))
    assert why.allowed and why.rule is not None
    assert why.rule.startswith("main.polar:")
    assert why.rule.endswith(
        'has_permission(actor: Principal, "read", org: Organization) if org.status = "active"'
        " and actor.org_id in org.partner_org_ids;"
    )


def test_a_denial_says_nothing_grants_it_and_lists_the_actors_roles(
    engine: PolicyEngine,
) -> None:
    member = actor({"org": "acme", "roles": ["member"]})
    why = engine.explain(member, "shred", dataset({"owner": "acme"}))
    assert not why.allowed and why.rule is None
    assert why.path[0] == "no rule grants 'shred' on Dataset to this actor"
    assert "holds roles [member] in acme" in why.path[1]
    assert why.path[2] == "roles on this Dataset: member on owner"


def test_a_suspended_organization_is_named_as_the_reason(engine: PolicyEngine) -> None:
    admin = actor({"org": "acme", "roles": ["admin"], "suspended": True})
    why = engine.explain(admin, "read", organization("acme"))
    assert not why.allowed
    assert "organization acme is suspended" in why.path[1]


def test_explain_agrees_with_decide(engine: PolicyEngine) -> None:
    resources = [dataset({"owner": "acme"}), organization("acme"), dataset({"owner": "globex"})]
    for roles in ([], ["member"], ["steward"], ["admin"], ["auditor"]):
        who = actor({"org": "acme", "roles": roles})
        for what in resources:
            for action in ("read", "download", "deposit", "shred", "manage_keys"):
                assert engine.explain(who, action, what).allowed == (
                    engine.decide(who, action, what).allowed
                )
