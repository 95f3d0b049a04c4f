"""A candidate policy bundle that would hang, crash or flood validation gets a bounded 422."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from escrow.components import Components
from storage.models import AuditEvent
from tests.api.policy.test_policies import REPO, body
from tests.fixtures.api import Caller
from tests.fixtures.audit import log_session

BUDGET_SECONDS = 6  # about 5 times what the repository's cases take on a busy CI box
# 2**28 calls, each failing at the end: Polar would search for far longer than its own 30 s.
BACKTRACKING = """
allow(_actor: Principal, _action, _resource) if combinations(28) and false;
combinations(0);
combinations(n: Integer) if n > 0 and combinations(n - 1) and combinations(n - 1);
"""
ALIAS_BOMB = "\n".join(
    [
        '- &a ["ha", "ha", "ha", "ha", "ha", "ha", "ha", "ha", "ha", "ha"]',
        *(f"- &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]" for i in range(8)),
    ]
)


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**settings_env, "ESCROW_POLICY_VALIDATION_SECONDS": str(BUDGET_SECONDS)}


def _failed_uploads(components: Components) -> list[AuditEvent]:
    with log_session(components) as session:
        query = select(AuditEvent).where(
            AuditEvent.action == "policy.upload", AuditEvent.outcome == "failed"
        )
        return list(session.scalars(query))


def _without_release_rules(main: str) -> str:
    start = main.index('release_blocker(agreement: Agreement, "not_pending")')
    end = main.index("# ---------------------------------------------------------------- access")
    return main[:start] + main[end:]


def test_a_bundle_without_release_blocker_rules_is_refused_with_422(
    operator: Caller, components: Components
) -> None:
    files = {**REPO.files, "main.polar": _without_release_rules(REPO.files["main.polar"])}
    response = operator.post("/v1/policies", json={"files": files, "tests": dict(REPO.tests)})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/validation-error") and problem["field"] == "files"
    assert "release_blocker" in problem["detail"]
    assert [e.reason for e in _failed_uploads(components)] == ["invalid_bundle"]


def test_a_backtracking_rule_is_refused_within_the_validation_budget(
    operator: Caller, components: Components
) -> None:
    started = time.monotonic()
    response = operator.post("/v1/policies", json=body({"slow.polar": BACKTRACKING}))
    elapsed = time.monotonic() - started
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == "files"
    assert f"did not finish within {BUDGET_SECONDS} s" in problem["detail"]
    assert elapsed < 25  # far below Polar's own 30 s query timeout
    assert [e.reason for e in _failed_uploads(components)] == ["invalid_bundle"]
    # The server is not left busy: a good bundle validates right after.
    assert operator.post("/v1/policies", json=body(main=("# ", "#  "))).status_code == 201


def test_yaml_aliases_in_candidate_tests_are_refused_without_expanding(
    operator: Caller,
) -> None:
    response = operator.post("/v1/policies", json=body(tests={"bomb.yaml": ALIAS_BOMB}))
    assert response.status_code == 422, response.text
    assert len(response.content) < 4096
    (failure,) = response.json()["failures"]
    assert failure["suite"] == "bundle:bomb.yaml"
    assert "aliases" in failure["message"]


def test_failures_echo_at_most_a_bounded_part_of_the_candidate(operator: Caller) -> None:
    name = "n" * 60_000
    case = (
        f"- name: {name}\n  actor: {{org: acme, roles: [auditor]}}\n"
        f"  action: [{', '.join(['shred'] * 300)}]\n"
        "  resource: {type: Dataset, owner: acme}\n  expect: allow\n"
    )
    response = operator.post("/v1/policies", json=body(tests={"long.yaml": case}))
    assert response.status_code == 422, response.text
    assert len(response.content) < 4096, response.text[:300]
    (failure,) = response.json()["failures"]
    assert failure["case"].startswith("nnnn") and len(failure["case"]) <= 200
    assert failure["message"].startswith("expected allow for shred")
    assert len(failure["message"]) <= 200
