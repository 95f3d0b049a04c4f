"""An organization's policy file can add release conditions for its own datasets, nothing else.

The hostile files (hostile_org_files.py) try everything a Polar file can say. The engine asks
an org file one question only (release_blocker, for that org's own agreements), so every
decision stays exactly what the platform rules decide.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from escrow.policy.engine import PolicyBundle, PolicyEngine, PolicyLoadError
from escrow.policy.testing import actor, agreement, dataset, organization, run_suites
from tests.unit.policy.hostile_org_files import HOSTILE, MEDDLING

POLICIES = Path(__file__).resolve().parents[3] / "policies"


@pytest.fixture(scope="module")
def base() -> PolicyEngine:
    return PolicyEngine.from_directory(POLICIES)


@pytest.fixture(scope="module")
def hostile(base: PolicyEngine) -> PolicyEngine:
    files = {**base.bundle.files, "orgs/acme.polar": HOSTILE, "orgs/globex.polar": MEDDLING}
    return PolicyEngine(PolicyBundle(files, base.bundle.tests))


ACTORS = [
    actor({"org": org, "roles": roles, "suspended": suspended})
    for org in ("acme", "globex", "initech", "platform")
    for roles in ([], ["member"], ["auditor"], ["steward"], ["admin"], ["admin", "operator"])
    for suspended in (False, True)
]
RESOURCES = [
    dataset({"owner": "acme", "labels": ["pii"]}),
    dataset({"owner": "acme", "released_to": ["globex"]}),
    dataset({"owner": "globex"}),
    organization({"slug": "acme", "partners": ["globex"]}),
    agreement({"owner": "acme", "beneficiary": "globex"}),
    agreement({"owner": "globex", "beneficiary": "acme", "state": "released"}),
]
ACTIONS = [
    "read",
    "download",
    "deposit",
    "withdraw",
    "shred",
    "create_agreement",
    "approve",
    "release",
    "revoke",
    "read_members",
    "manage_keys",
    "explain",
    "anything",
]


def test_every_decision_is_the_platform_rules_decision(
    base: PolicyEngine, hostile: PolicyEngine
) -> None:
    for who in ACTORS:
        for what in RESOURCES:
            for action in ACTIONS:
                expected = base.decide(who, action, what).allowed
                assert hostile.decide(who, action, what).allowed == expected, (who, action, what)


def test_the_platform_cases_still_pass_under_the_hostile_files(hostile: PolicyEngine) -> None:
    report = run_suites(hostile, hostile.bundle.tests)
    assert report.ok, [str(f) for f in report.failures]


def test_an_org_file_cannot_lift_a_platform_blocker(hostile: PolicyEngine) -> None:
    blocked = agreement({"owner": "acme", "approvals": 0, "partnership_active": False})
    assert hostile.release(blocked).blockers == ("approvals", "no_active_partnership")


def test_an_org_file_narrows_only_its_own_organizations_releases(
    base: PolicyEngine, hostile: PolicyEngine
) -> None:
    acme_owned = agreement({"owner": "acme", "beneficiary": "globex"})
    globex_owned = agreement({"owner": "globex", "beneficiary": "acme"})
    initech_owned = agreement({"owner": "initech", "beneficiary": "globex"})
    # globex's "objection to everything" stops globex's releases only...
    assert hostile.release(globex_owned).blockers == ("globex:globex_objects",)
    # ...and acme's rule about globex-owned agreements is never asked about them.
    assert hostile.release(acme_owned).blockers == base.release(acme_owned).blockers == ()
    assert hostile.release(initech_owned).blockers == ()


def test_an_org_rule_that_errors_blocks_that_orgs_release(base: PolicyEngine) -> None:
    broken = 'release_blocker(a: Agreement, "x") if a.no_such_field = 1;\n'
    engine = PolicyEngine(PolicyBundle({**base.bundle.files, "orgs/acme.polar": broken}))
    assert engine.release(agreement({"owner": "acme"})).blockers == ("acme:policy_error",)
    assert engine.release(agreement({"owner": "globex"})).blockers == ()


@pytest.mark.parametrize("name", ["orgs/Acme.polar", "orgs/acme/extra.polar", "orgs/a.polar"])
def test_org_files_are_named_by_slug(base: PolicyEngine, name: str) -> None:
    with pytest.raises(PolicyLoadError, match=r"orgs/<slug>\.polar"):
        PolicyEngine(PolicyBundle({**base.bundle.files, name: ""}))


def test_the_example_org_file_narrows_its_pii_releases(base: PolicyEngine) -> None:
    strategic = {"slug": "globex", "tier": "strategic"}
    one = agreement({"owner": "example-pharma", "beneficiary": strategic, "labels": ["pii"]})
    assert base.release(one).blockers == ("example-pharma:pii_needs_two_steward_approvals",)
    core = agreement({"owner": "example-pharma", "labels": ["pii"], "approvals": 2})
    assert base.release(core).blockers == ("example-pharma:pii_only_to_strategic_partners",)
