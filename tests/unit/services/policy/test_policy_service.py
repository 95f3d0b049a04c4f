"""Policy use cases through the service layer (no HTTP): upload a bundle, validate it against
the repository's cases, activate it (the previous one retired), explain a denial."""

from __future__ import annotations

from pathlib import Path

import pytest

from escrow.components import Components
from escrow.errors import ForbiddenError, InvalidStateError, NotFoundError, ValidationError
from escrow.orgs.queries import as_resource, find_org_or_none
from escrow.policy.engine import PolicyBundle
from escrow.policy.results import StoredBundle
from escrow.wiring import explain_service, policy_service
from tests.fixtures.api import Caller
from tests.fixtures.datasets import Partners
from tests.unit.services.acting import audit_events, authenticated_as, context_of
from tests.unit.services.deposits import create

REPO = PolicyBundle.from_directory(Path(__file__).resolve().parents[4] / "policies")
MEMBERS_READ_MEMBERS = (
    '    "read_members" if "auditor";\n',
    '    "read_members" if "auditor";\n    "read_members" if "member";\n',
)
OPERATORS_DOWNLOAD = (
    'has_permission(actor: Principal, "download", _: Dataset) if actor.is_operator;\n'
)


def bundle(
    main: tuple[str, str] | None = None, extra: str | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """The repository's files and tests, main.polar edited by ``main``, plus ``extra``."""
    files = dict(REPO.files)
    if main is not None:
        assert main[0] in files["main.polar"]
        files["main.polar"] = files["main.polar"].replace(*main)
    if extra is not None:
        files["widen.polar"] = extra
    return files, dict(REPO.tests)


def upload(components: Components, operator: Caller, files: dict[str, str]) -> str:
    with authenticated_as(components, operator) as deps:
        return policy_service(components, deps).upload(files, REPO.tests).id


def members_may_list_members(components: Components, member: Caller) -> bool:
    ctx = context_of(components, member)
    with components.db.session() as session:
        org = find_org_or_none(session, ctx.principal.org_slug)
        assert org is not None
        return components.shared.guard.allows(ctx, "read_members", as_resource(session, org))


def test_a_bundle_that_passes_every_case_is_stored_as_a_candidate(
    partners: Partners, components: Components
) -> None:
    files, tests = bundle(MEMBERS_READ_MEMBERS)
    with authenticated_as(components, partners.operator) as deps:
        stored = policy_service(components, deps).upload(files, tests)
    assert isinstance(stored, StoredBundle)  # a result, not a row of the closed session
    assert (stored.state, stored.author_id) == ("candidate", partners.operator.id)
    assert stored.files == files
    assert components.policy.version == REPO.sha256  # stored, not served
    (uploaded,) = audit_events(components, "policy.upload")
    assert (uploaded.outcome, uploaded.resource_id) == ("success", stored.id)
    assert uploaded.policy_version == REPO.sha256


def test_a_bundle_failing_the_repositorys_cases_is_refused_stored_nowhere_and_audited(
    partners: Partners, components: Components
) -> None:
    files, _ = bundle(extra=OPERATORS_DOWNLOAD)
    with (
        authenticated_as(components, partners.operator) as deps,
        pytest.raises(ValidationError) as bad,
    ):
        policy_service(components, deps).upload(
            files, {}
        )  # its own cases cannot replace the repository's
    failures = bad.value.extra["failures"]
    assert {f["suite"] for f in failures} == {"policies/tests/platform.yaml"}
    (failed,) = audit_events(components, "policy.upload")
    assert (failed.outcome, failed.reason) == ("failed", "tests_failed")
    with authenticated_as(components, partners.operator) as deps:
        stored = policy_service(components, deps).list_bundles(None, 50).items
    assert [row.sha256 for row in stored] == [REPO.sha256]


def test_activating_serves_the_bundle_at_once_and_retires_the_previous_one(
    partners: Partners, components: Components
) -> None:
    assert not members_may_list_members(components, partners.member)
    candidate = upload(components, partners.operator, bundle(MEMBERS_READ_MEMBERS)[0])
    with authenticated_as(components, partners.operator) as deps:
        service = policy_service(components, deps)
        seed = service.active()
        activated = service.activate(candidate)
        assert activated.state == "active" and service.get(seed.id).state == "retired"
        with pytest.raises(InvalidStateError):
            service.activate(candidate)
    assert components.policy.version == activated.sha256
    assert members_may_list_members(components, partners.member)
    activation = audit_events(components, "policy.activate")[-1]
    assert (activation.resource_id, activation.policy_version) == (candidate, REPO.sha256)
    assert f'"previous":"{REPO.sha256}"' in activation.entry


def test_only_operators_manage_policies(partners: Partners, components: Components) -> None:
    files, tests = bundle(MEMBERS_READ_MEMBERS)
    with authenticated_as(components, partners.admin) as deps, pytest.raises(ForbiddenError):
        policy_service(components, deps).upload(files, tests)
    (denied,) = audit_events(components, "manage_policies")
    assert (denied.actor_id, denied.outcome) == (partners.admin.id, "denied")
    assert audit_events(components, "policy.upload") == []


def test_an_admin_learns_which_rule_would_grant_a_members_denied_shred(
    partners: Partners, components: Components
) -> None:
    dataset_id = create(components, partners.steward)
    with authenticated_as(components, partners.admin) as deps:
        why = explain_service(components, deps).explain(
            partners.member.id, "shred", "dataset", dataset_id
        )
    assert not why.explanation.allowed and why.explanation.rule is None
    (grant,) = why.explanation.would_grant
    assert grant.rule.endswith('resource Dataset { "shred" if "admin" on "owner"; }')
    assert grant.unmet == "needs admin on owner (holds: member on owner)"
    (explained,) = audit_events(components, "authz.explain")
    assert (explained.actor_id, explained.resource_id) == (partners.admin.id, dataset_id)
    assert '"allowed":false' in explained.entry


def test_explaining_discloses_nothing_about_a_dataset_the_caller_cannot_see(
    partners: Partners, components: Components
) -> None:
    dataset_id = create(components, partners.steward)
    with authenticated_as(components, partners.outsider) as deps, pytest.raises(NotFoundError):
        explain_service(components, deps).explain(None, "download", "dataset", dataset_id)
    assert audit_events(components, "authz.explain") == []
