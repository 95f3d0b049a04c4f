"""What a candidate bundle must satisfy before it is stored or activated."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from polar.exceptions import OsoError

from escrow.errors import PayloadTooLargeError, ValidationError
from escrow.policy.case_specs import agreement
from escrow.policy.engine import PolicyBundle, PolicyEngine, PolicyLoadError
from escrow.policy.testing import run_suites
from escrow.policy.time_budget import BudgetExceededError, answer_within, serve_one

MAX_POLAR_FILES = 64
MAX_TEST_FILES = 64
MAX_FILE_BYTES = 128 * 1024
MAX_BUNDLE_BYTES = 512 * 1024  # Polar and YAML together; below ESCROW_MAX_BODY_BYTES' default
MAX_REPORTED_FAILURES = 100
POLAR_PATH = re.compile(r"^(?:[a-z0-9][a-z0-9_-]{0,62}/){0,3}[a-z0-9][a-z0-9_-]{0,62}\.polar$")
TEST_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}\.ya?ml$")
REPO_SUITE, BUNDLE_SUITE = "policies/tests/", "bundle:"
DEFAULT_BUDGET_SECONDS = 10.0
Problem = tuple[str, str, dict[str, Any]]  # detail, field, extra members of the 422


def check_limits(files: Mapping[str, str], tests: Mapping[str, str]) -> None:
    """Size first (413), then shape (422): names, counts, main.polar present."""
    total = sum(len(t.encode()) for t in [*files.values(), *tests.values()])
    if total > MAX_BUNDLE_BYTES:
        raise PayloadTooLargeError(
            f"the bundle holds {total} bytes of Polar and YAML; at most {MAX_BUNDLE_BYTES}"
        )
    if "main.polar" not in files:
        raise ValidationError("a bundle needs main.polar", field="files")
    if len(files) > MAX_POLAR_FILES or len(tests) > MAX_TEST_FILES:
        raise ValidationError(
            f"at most {MAX_POLAR_FILES} Polar files and {MAX_TEST_FILES} test files",
            field="files",
        )
    bad = sorted(name[:80] for name in files if not POLAR_PATH.match(name) or ".." in name)
    bad += sorted(f"tests:{name[:80]}" for name in tests if not TEST_NAME.match(name))
    if bad:
        raise ValidationError(
            "file names are relative paths like main.polar or orgs/<slug>.polar; test names"
            " like platform.yaml",
            field="files",
            invalid=bad,
        )
    large = sorted(  # names are valid here, so short
        n for n, t in [*files.items(), *tests.items()] if len(t.encode()) > MAX_FILE_BYTES
    )
    if large:
        raise ValidationError(
            f"files are at most {MAX_FILE_BYTES} bytes", field="files", invalid=large
        )


def validated_engine(
    bundle: PolicyBundle,
    repo_tests: Mapping[str, str],
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
) -> PolicyEngine:
    """Fails closed: the bundle loads, and every repository and bundle test case passes
    within ``budget_seconds`` (the checks run in a child process that is killed after)."""
    check_limits(bundle.files, bundle.tests)
    try:
        engine = PolicyEngine(bundle)
    except PolicyLoadError as exc:
        raise ValidationError(f"the policy does not load: {exc}", field="files") from None
    try:
        problem = _problem_in_child(budget_seconds, bundle.files, bundle.tests, repo_tests)
    except BudgetExceededError:
        raise ValidationError(
            f"the policy's checks did not finish within {budget_seconds:g} s; a rule that"
            " backtracks over many combinations is the usual cause",
            field="files",
        ) from None
    if problem is not None:
        detail, problem_field, extra = problem
        raise ValidationError(detail, field=problem_field, **extra)
    return engine


def candidate_problem(
    files: Mapping[str, str], tests: Mapping[str, str], repo_tests: Mapping[str, str]
) -> Problem | None:
    """What is wrong with a loadable bundle when its rules are asked (None: nothing).

    Runs in a child process (``_problem_in_child``): answers plain data.
    """
    engine = PolicyEngine(PolicyBundle(files, tests))
    sample = agreement({"labels": ["pii"]})
    try:
        engine.release(sample)
    except OsoError:
        return (
            "main.polar must define release_blocker(agreement: Agreement, reason) rules",
            "files",
            {},
        )
    suites = {REPO_SUITE + name: text for name, text in repo_tests.items()}
    suites |= {BUNDLE_SUITE + name: text for name, text in tests.items()}
    report = run_suites(engine, suites)
    if not report.ok:
        failures = report.failures
        return (
            f"{len(failures)} policy test case(s) failed ({report.passed} passed)",
            "tests",
            {
                "failures": [
                    {"suite": f.suite, "case": f.case, "message": f.message}
                    for f in failures[:MAX_REPORTED_FAILURES]
                ]
            },
        )
    for slug in engine.org_slugs:
        sample = agreement({"owner": slug, "labels": ["pii"]})
        if f"{slug}:policy_error" in engine.release(sample).blockers:
            return f"orgs/{slug}.polar fails when asked about an agreement of {slug}", "files", {}
    return None


def _problem_in_child(
    seconds: float,
    files: Mapping[str, str],
    tests: Mapping[str, str],
    repo_tests: Mapping[str, str],
) -> Problem | None:
    """``candidate_problem`` in a child interpreter killed after ``seconds``."""
    request = {"files": dict(files), "tests": dict(tests), "repo_tests": dict(repo_tests)}
    answer = answer_within(seconds, __name__, request)["problem"]
    return None if answer is None else (answer[0], answer[1], answer[2])


def _child(request: dict[str, Any]) -> dict[str, Any]:
    return {"problem": candidate_problem(request["files"], request["tests"], request["repo_tests"])}


if __name__ == "__main__":
    serve_one(_child)
