"""Every role x organization relation x action x agreement state, with the outcome written out.

The expected table is the specification: who may do what with a dataset and its agreement.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from escrow.context import Actor
from escrow.policy.engine import PolicyEngine
from escrow.policy.resources import AgreementResource, ApproverGrant, DatasetResource, OrgResource

POLICIES = Path(__file__).resolve().parents[3] / "policies"
OWNER = OrgResource("o-acme", "acme", "active", "strategic")
BENEFICIARY = OrgResource("o-globex", "globex", "active", "strategic")
UNRELATED = OrgResource("o-initech", "initech", "active", "core")
PLATFORM = OrgResource("o-platform", "platform", "active", "strategic")
ROLES = ("admin", "steward", "member", "auditor")
STATES = ("pending", "released", "revoked", "expired", "rejected")
DATASET_ACTIONS = ("read", "download", "deposit", "create_agreement", "withdraw", "shred")
AGREEMENT_ACTIONS = ("read", "approve", "release", "revoke", "object", "terminate", "attest")

# What each (relation, role) may do: dataset actions in every agreement state, agreement
# actions in every state, and dataset read/download only while the agreement is released.
OWNER_TABLE = {
    "admin": {
        "dataset": {"read", "download", "deposit", "create_agreement", "withdraw", "shred"},
        "agreement": {"read", "approve", "release", "revoke", "object"},
    },
    "steward": {
        "dataset": {"read", "download", "deposit", "create_agreement", "withdraw"},
        "agreement": {"read", "approve", "release", "revoke", "object"},
    },
    "member": {"dataset": {"read", "download"}, "agreement": {"read"}},
    "auditor": {"dataset": set(), "agreement": {"read"}},
}
BENEFICIARY_TABLE = {
    "admin": {
        "released": {"read", "download"},
        "agreement": {"read", "approve", "release", "terminate"},
    },
    "steward": {"released": {"read", "download"}, "agreement": {"read"}},
    "member": {"released": {"read", "download"}, "agreement": {"read"}},
    "auditor": {"released": set(), "agreement": {"read"}},
}


def _actor(org: OrgResource, *roles: str, active: bool = True) -> Actor:
    return Actor(
        id=f"p-{org.slug}-{'-'.join(roles)}",
        org_id=org.id,
        org_slug=org.slug,
        roles=roles,
        org_active=active,
    )


def _agreement(state: str) -> tuple[DatasetResource, AgreementResource]:
    released_to = (BENEFICIARY.id,) if state == "released" else ()
    dataset = DatasetResource("d-1", OWNER, ("pii",), "active", released_to)
    grants = (
        ApproverGrant("owner:steward", OWNER.id, "steward"),
        ApproverGrant("beneficiary:admin", BENEFICIARY.id, "admin"),
    )
    agreement = AgreementResource(
        id="a-1",
        state=state,
        dataset=dataset,
        owner=OWNER,
        beneficiary=BENEFICIARY,
        approver_grants=grants,
        required_approvals=1,
        approvals=0,
        steward_approvals=0,
        rejected=False,
        partnership_active=True,
        embargo_over=True,
        expired=False,
        attestation_required=False,
        attested=False,
        attestation_org_id=None,
        purpose="p",
    )
    return dataset, agreement


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine.from_directory(POLICIES)


def _allowed(
    engine: PolicyEngine, actor: Actor, resource: object, actions: tuple[str, ...]
) -> set[str]:
    return {a for a in actions if engine.decide(actor, a, resource).allowed}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("role", ROLES)
def test_owner_roles(engine: PolicyEngine, role: str, state: str) -> None:
    dataset, agreement = _agreement(state)
    actor = _actor(OWNER, role)
    assert _allowed(engine, actor, dataset, DATASET_ACTIONS) == OWNER_TABLE[role]["dataset"]
    assert _allowed(engine, actor, agreement, AGREEMENT_ACTIONS) == OWNER_TABLE[role]["agreement"]


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("role", ROLES)
def test_beneficiary_roles(engine: PolicyEngine, role: str, state: str) -> None:
    dataset, agreement = _agreement(state)
    actor = _actor(BENEFICIARY, role)
    expected = BENEFICIARY_TABLE[role]["released"] if state == "released" else set()
    assert _allowed(engine, actor, dataset, DATASET_ACTIONS) == expected
    assert (
        _allowed(engine, actor, agreement, AGREEMENT_ACTIONS)
        == (BENEFICIARY_TABLE[role]["agreement"])
    )


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("role", ROLES)
def test_unrelated_orgs_get_nothing(engine: PolicyEngine, role: str, state: str) -> None:
    dataset, agreement = _agreement(state)
    actor = _actor(UNRELATED, role)
    assert _allowed(engine, actor, dataset, DATASET_ACTIONS) == set()
    assert _allowed(engine, actor, agreement, AGREEMENT_ACTIONS) == set()


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("relation", ["owner", "beneficiary"])
@pytest.mark.parametrize("role", ROLES)
def test_suspended_orgs_can_do_nothing(
    engine: PolicyEngine, role: str, relation: str, state: str
) -> None:
    dataset, agreement = _agreement(state)
    actor = _actor(OWNER if relation == "owner" else BENEFICIARY, role, active=False)
    assert _allowed(engine, actor, dataset, DATASET_ACTIONS) == set()
    assert _allowed(engine, actor, agreement, AGREEMENT_ACTIONS) == set()


@pytest.mark.parametrize("state", STATES)
def test_operators_manage_but_never_read_escrowed_content(engine: PolicyEngine, state: str) -> None:
    dataset, agreement = _agreement(state)
    operator = _actor(PLATFORM, "admin", "operator")
    assert _allowed(engine, operator, dataset, DATASET_ACTIONS) == set()
    assert _allowed(engine, operator, agreement, AGREEMENT_ACTIONS) == set()


def test_content_released_to_the_platform_is_readable_by_its_members(
    engine: PolicyEngine,
) -> None:
    dataset = DatasetResource("d-1", OWNER, (), "active", (PLATFORM.id,))
    operator = _actor(PLATFORM, "admin", "operator")
    assert _allowed(engine, operator, dataset, DATASET_ACTIONS) == {"read", "download"}


@pytest.mark.parametrize("status", ["withdrawn", "shredded"])
def test_a_release_grants_nothing_once_the_dataset_is_withdrawn(
    engine: PolicyEngine, status: str
) -> None:
    dataset = DatasetResource("d-1", OWNER, (), status, (BENEFICIARY.id,))
    assert _allowed(engine, _actor(BENEFICIARY, "admin"), dataset, DATASET_ACTIONS) == set()
