"""The YAML policy test format, the repository's own cases, and `escrow policy test`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from escrow.cli.main import cli
from escrow.policy.engine import PolicyBundle, PolicyEngine
from escrow.policy.testing import run_suites

POLICIES = Path(__file__).resolve().parents[3] / "policies"


@pytest.fixture(scope="module")
def bundle() -> PolicyBundle:
    return PolicyBundle.from_directory(POLICIES)


@pytest.fixture(scope="module")
def engine(bundle: PolicyBundle) -> PolicyEngine:
    return PolicyEngine(bundle)


def test_the_repository_bundle_passes_its_own_cases(
    bundle: PolicyBundle, engine: PolicyEngine
) -> None:
    assert set(bundle.tests) == {"platform.yaml", "example-pharma.yaml"}
    report = run_suites(engine, bundle.tests)
    assert report.ok, [str(f) for f in report.failures]
    assert report.passed >= 40


def test_the_bundle_version_covers_polar_files_and_tests(bundle: PolicyBundle) -> None:
    without_tests = PolicyBundle(bundle.files)
    changed_test = PolicyBundle(bundle.files, {**bundle.tests, "extra.yaml": "[]"})
    assert len({bundle.sha256, without_tests.sha256, changed_test.sha256}) == 3


def test_a_wrong_expectation_is_reported_with_file_case_and_reason(engine: PolicyEngine) -> None:
    suite = """
- name: operators download escrowed data
  actor: {org: platform, roles: [operator]}
  action: [read, download]
  resource: {type: Dataset, owner: acme}
  expect: allow
- name: approvals are enough
  release: {approvals: 0}
  expect_blockers: []
- name: members read their datasets
  actor: {org: acme, roles: [member]}
  action: read
  resource: {type: Dataset, owner: acme}
  expect: allow
"""
    report = run_suites(engine, {"mine.yaml": suite})
    assert report.passed == 1
    assert [(f.suite, f.case) for f in report.failures] == [
        ("mine.yaml", "operators download escrowed data"),
        ("mine.yaml", "approvals are enough"),
    ]
    assert report.failures[0].message == "expected allow for read, download"
    assert report.failures[1].message == "expected blockers [], got ['approvals']"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            "- {name: x, actor: {org: a}, action: read, resource: {type: Dataset}, expect: yes}",
            "expect is allow or deny",
        ),
        (
            "- {name: x, actor: {org: a}, action: read, resource: {type: Widget}, expect: allow}",
            "resource.type is one of",
        ),
        (
            "- {name: x, actor: {org: a, role: admin}, action: read, resource: {type: Platform},"
            " expect: deny}",
            "unknown actor field(s): role",
        ),
        ("- {name: x, release: {approvals: many}, expect_blockers: []}", "approvals is an integer"),
        ("- {name: x, release: {approvers: [boss]}, expect_blockers: []}", "approver 'boss'"),
        ("- {name: x, actor: {org: a}, action: read}", "case needs expect, resource"),
    ],
)
def test_malformed_cases_fail_with_a_reason(engine: PolicyEngine, case: str, message: str) -> None:
    report = run_suites(engine, {"bad.yaml": case})
    assert not report.ok and message in report.failures[0].message


def test_a_file_that_is_not_a_list_of_cases_fails_as_a_whole(engine: PolicyEngine) -> None:
    for text in ("name: not a list", "- [unclosed"):
        report = run_suites(engine, {"bad.yaml": text})
        assert [(f.suite, f.case) for f in report.failures] == [("bad.yaml", "-")]


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def test_cli_passes_on_the_repository_bundle() -> None:
    result = CliRunner().invoke(cli, ["policy", "test", str(POLICIES)])
    assert result.exit_code == 0, result.output
    assert " passed, 0 failed" in result.output


def test_cli_fails_naming_the_failing_case(tmp_path: Path) -> None:
    policies = _copy(tmp_path)
    (policies / "tests" / "wrong.yaml").write_text(
        "- name: auditors download\n"
        "  actor: {org: acme, roles: [auditor]}\n"
        "  action: download\n"
        "  resource: {type: Dataset, owner: acme}\n"
        "  expect: allow\n"
    )
    result = CliRunner().invoke(cli, ["policy", "test", str(policies)])
    assert result.exit_code == 1
    assert "FAILED tests/wrong.yaml: auditors download: expected allow for download" in (
        result.output
    )


def test_cli_fails_on_polar_that_does_not_load(tmp_path: Path) -> None:
    policies = _copy(tmp_path)
    (policies / "orgs" / "acme.polar").write_text("release_blocker(a: Agreement, ) if;\n")
    result = CliRunner().invoke(cli, ["policy", "test", str(policies)])
    assert result.exit_code == 1 and "does not load" in result.output
    assert "orgs/acme.polar" in result.output
