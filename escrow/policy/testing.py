"""Policy test cases in YAML: what a bundle must allow, deny and block, checked before use.

A file is a list of cases. A decision case names an actor, one action (or a list of them)
and a resource, and expects ``allow`` or ``deny``::

    - name: stewards deposit into their organization's datasets
      actor: {org: acme, roles: [steward]}
      action: deposit
      resource: {type: Dataset, owner: {slug: acme, tier: core}, labels: [pii]}
      expect: allow

A sharing case describes a population's sharing toward a partner and the overlap level
ceiling expected (``all`` when no rule lowers it)::

    - name: pii lists show counts at most to core partners
      sharing: {owner: {slug: acme}, partner: {slug: globex, tier: core}, labels: [pii]}
      expect_ceiling: counts

A release case describes an agreement and the exact set of release blockers expected
(``[]``: the agreement is released)::

    - name: pii needs two steward approvals
      release: {owner: {slug: acme}, beneficiary: {slug: globex, tier: strategic},
                labels: [pii], approvals: 1, steward_approvals: 1}
      expect_blockers: ["acme:pii_needs_two_steward_approvals"]

Organizations are a slug or ``{slug, tier: core, status: active, partners: [slugs],
has_admin: true}``;
their ids are their slugs. Actors are ``{org, roles: [], suspended: false, id}``. Resource
types and their fields (all optional but ``type``) are listed in
``escrow.policy.case_specs.RESOURCE_FIELDS``; the agreement defaults describe one that the
platform rules release (pending, one approval of one required, an active partnership,
embargo over, not expired) between ``owner-org`` and ``partner-org``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from polar.exceptions import OsoError

from escrow.policy.case_specs import (
    CaseFormatError,
    actor,
    agreement,
    as_mapping,
    as_strings,
    check_keys,
    dataset,
    organization,
    population_share,
    resource,
)
from escrow.policy.engine import PolicyEngine

# The builders are imported from here too: a case's specs are part of its format.
__all__ = [
    "MAX_CASES_PER_FILE",
    "MAX_ECHOED_CHARS",
    "CaseFailure",
    "CaseFormatError",
    "SuiteReport",
    "actor",
    "agreement",
    "dataset",
    "organization",
    "population_share",
    "resource",
    "run_suites",
]

MAX_CASES_PER_FILE = 2000
# What a failure may echo of the candidate (names, actions, blockers): aliases are refused, so
# a case is no bigger than its text, but a report of many cases must stay small.
MAX_ECHOED_CHARS = 200
DECISION_KEYS = frozenset({"name", "actor", "action", "resource", "expect"})
RELEASE_KEYS = frozenset({"name", "release", "expect_blockers"})
SHARING_KEYS = frozenset({"name", "sharing", "expect_ceiling"})


@dataclass(frozen=True)
class CaseFailure:
    suite: str
    case: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "case", _clipped(self.case))
        object.__setattr__(self, "message", _clipped(self.message))

    def __str__(self) -> str:
        return f"{self.suite}: {self.case}: {self.message}"


@dataclass(frozen=True)
class SuiteReport:
    passed: int
    failures: tuple[CaseFailure, ...]

    @property
    def ok(self) -> bool:
        return not self.failures


def run_suites(engine: PolicyEngine, suites: Mapping[str, str]) -> SuiteReport:
    """Runs every case of every suite (name -> YAML text); a malformed case is a failure."""
    passed, failures = 0, []
    for suite, text in sorted(suites.items()):
        try:
            cases = _cases(text)
        except CaseFormatError as exc:
            failures.append(CaseFailure(suite, "-", str(exc)))
            continue
        for index, case in enumerate(cases):
            name = str(case.get("name") or f"case {index + 1}") if isinstance(case, dict) else "-"
            try:
                problem = _run(engine, case)
            except CaseFormatError as exc:
                problem = f"bad case: {exc}"
            except OsoError as exc:  # the message would quote the case: name the kind only
                problem = f"the policy failed on this case ({type(exc).__name__})"
            if problem is None:
                passed += 1
            else:
                failures.append(CaseFailure(suite, name, problem))
    return SuiteReport(passed, tuple(failures))


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without anchors' aliases: a few lines of ``*alias`` can expand a billion-fold."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise CaseFormatError(f"YAML aliases (*name) are not allowed (line {mark.line + 1})")
        return super().compose_node(parent, index)


def _cases(text: str) -> list[Any]:
    try:
        cases = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise CaseFormatError(f"not YAML: {_clipped(str(exc))}") from None
    if cases is None:
        return []
    if not isinstance(cases, list):
        raise CaseFormatError("a test file is a YAML list of cases")
    if len(cases) > MAX_CASES_PER_FILE:
        raise CaseFormatError(f"more than {MAX_CASES_PER_FILE} cases in one file")
    return cases


def _run(engine: PolicyEngine, case: Any) -> str | None:
    """None when the case holds, else what went wrong."""
    if not isinstance(case, dict):
        raise CaseFormatError("a case is a mapping")
    if "release" in case:
        check_keys(case, RELEASE_KEYS, "case", required={"name", "release", "expect_blockers"})
        expected = sorted(as_strings(case["expect_blockers"], "expect_blockers"))
        got = sorted(engine.release(agreement(as_mapping(case["release"], "release"))).blockers)
        return None if got == expected else f"expected blockers {expected}, got {got}"
    if "sharing" in case:
        check_keys(case, SHARING_KEYS, "case", required=SHARING_KEYS)
        ceiling = engine.overlap_ceiling(population_share(as_mapping(case["sharing"], "sharing")))
        wanted = str(case["expect_ceiling"])
        return None if ceiling == wanted else f"expected ceiling {wanted}, got {ceiling}"
    check_keys(case, DECISION_KEYS, "case", required=DECISION_KEYS)
    if case["expect"] not in ("allow", "deny"):
        raise CaseFormatError("expect is allow or deny")
    who = actor(as_mapping(case["actor"], "actor"))
    what = resource(as_mapping(case["resource"], "resource"))
    actions = case["action"] if isinstance(case["action"], list) else [case["action"]]
    wrong = [
        str(action)
        for action in actions
        if engine.decide(who, str(action), what).allowed != (case["expect"] == "allow")
    ]
    if wrong:
        return f"expected {case['expect']} for {', '.join(wrong)}"
    return None


def _clipped(text: str) -> str:
    if len(text) <= MAX_ECHOED_CHARS:
        return text
    return text[: MAX_ECHOED_CHARS - 1] + "\u2026"
