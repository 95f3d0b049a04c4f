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
types and their fields (all optional but ``type``) are listed in ``RESOURCE_FIELDS``; the
agreement defaults describe one that the platform rules release (pending, one approval of
one required, an active partnership, embargo over, not expired) between ``owner-org`` and
``partner-org``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from polar.exceptions import OsoError

from escrow.context import Actor
from escrow.policy.engine import PolicyEngine
from escrow.policy.resources import (
    PLATFORM,
    AccessTokenResource,
    AgreementResource,
    ApproverGrant,
    AuditLogResource,
    DatasetResource,
    MemberResource,
    OrgResource,
    PartnershipResource,
    PopulationShare,
)

MAX_CASES_PER_FILE = 2000
# What a failure may echo of the candidate (names, actions, blockers): aliases are refused, so
# a case is no bigger than its text, but a report of many cases must stay small.
MAX_ECHOED_CHARS = 200
# Slugs no real organization is expected to have: a repository case that leaves the owner
# out is not affected when some organization's own release rules are added.
DEFAULT_OWNER, DEFAULT_BENEFICIARY = "owner-org", "partner-org"
DECISION_KEYS = frozenset({"name", "actor", "action", "resource", "expect"})
RELEASE_KEYS = frozenset({"name", "release", "expect_blockers"})
SHARING_KEYS = frozenset({"name", "sharing", "expect_ceiling"})
SHARING_FIELDS = frozenset({"owner", "partner", "labels", "dataset_status", "kind"})
ORG_KEYS = frozenset({"slug", "tier", "status", "partners", "has_admin"})
ACTOR_KEYS = frozenset({"org", "roles", "suspended", "id"})
AGREEMENT_FIELDS = frozenset(
    {
        "id",
        "state",
        "owner",
        "beneficiary",
        "labels",
        "dataset_status",
        "approvers",
        "approvals",
        "steward_approvals",
        "required_approvals",
        "rejected",
        "partnership_active",
        "embargo_over",
        "expired",
        "attestation_required",
        "attested",
        "attestation_org",
        "purpose",
    }
)
RESOURCE_FIELDS: dict[str, frozenset[str]] = {
    "Platform": frozenset(),
    "Organization": ORG_KEYS,
    "Partnership": frozenset({"id", "orgs", "status", "org_statuses"}),
    "Dataset": frozenset({"id", "owner", "labels", "status", "released_to"}),
    "Agreement": AGREEMENT_FIELDS,
    "AuditLog": frozenset({"org"}),
    "AccessToken": frozenset({"principal", "org"}),
    "Member": frozenset({"id", "org"}),
}


class CaseFormatError(ValueError):
    """A case that does not follow the format; reported as that case's failure."""


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
        _keys(case, RELEASE_KEYS, "case", required={"name", "release", "expect_blockers"})
        expected = sorted(_strings(case["expect_blockers"], "expect_blockers"))
        got = sorted(engine.release(agreement(_mapping(case["release"], "release"))).blockers)
        return None if got == expected else f"expected blockers {expected}, got {got}"
    if "sharing" in case:
        _keys(case, SHARING_KEYS, "case", required=SHARING_KEYS)
        ceiling = engine.overlap_ceiling(population_share(_mapping(case["sharing"], "sharing")))
        wanted = str(case["expect_ceiling"])
        return None if ceiling == wanted else f"expected ceiling {wanted}, got {ceiling}"
    _keys(case, DECISION_KEYS, "case", required=DECISION_KEYS)
    if case["expect"] not in ("allow", "deny"):
        raise CaseFormatError("expect is allow or deny")
    who = actor(_mapping(case["actor"], "actor"))
    what = resource(_mapping(case["resource"], "resource"))
    actions = case["action"] if isinstance(case["action"], list) else [case["action"]]
    wrong = [
        str(action)
        for action in actions
        if engine.decide(who, str(action), what).allowed != (case["expect"] == "allow")
    ]
    if wrong:
        return f"expected {case['expect']} for {', '.join(wrong)}"
    return None


def actor(spec: Mapping[str, Any]) -> Actor:
    _keys(spec, ACTOR_KEYS, "actor", required={"org"})
    org = str(spec["org"])
    roles = tuple(_strings(spec.get("roles", []), "actor.roles"))
    return Actor(
        id=str(spec.get("id") or f"{org}-{'-'.join(roles) or 'nobody'}"),
        org_id=org,
        org_slug=org,
        roles=roles,
        org_active=not bool(spec.get("suspended", False)),
    )


def organization(spec: Any) -> OrgResource:
    if isinstance(spec, str):
        return OrgResource(spec, spec, "active", "core")
    spec = _mapping(spec, "organization")
    _keys(spec, ORG_KEYS, "organization", required={"slug"})
    return OrgResource(
        id=str(spec["slug"]),
        slug=str(spec["slug"]),
        status=str(spec.get("status", "active")),
        tier=str(spec.get("tier", "core")),
        partner_org_ids=tuple(_strings(spec.get("partners", []), "partners")),
        has_admin=_bool(spec, "has_admin", True),
    )


def dataset(spec: Mapping[str, Any]) -> DatasetResource:
    return DatasetResource(
        id=str(spec.get("id", "dataset-1")),
        owner=organization(spec.get("owner", DEFAULT_OWNER)),
        labels=tuple(_strings(spec.get("labels", []), "labels")),
        status=str(spec.get("status", "active")),
        released_to=tuple(_strings(spec.get("released_to", []), "released_to")),
    )


def agreement(spec: Mapping[str, Any]) -> AgreementResource:
    _keys(spec, AGREEMENT_FIELDS, "agreement")
    owner = organization(spec.get("owner", DEFAULT_OWNER))
    beneficiary = organization(spec.get("beneficiary", DEFAULT_BENEFICIARY))
    approvals = _int(spec, "approvals", 1)
    attester = spec.get("attestation_org")
    return AgreementResource(
        id=str(spec.get("id", "agreement-1")),
        state=str(spec.get("state", "pending")),
        dataset=DatasetResource(
            "dataset-1",
            owner,
            tuple(_strings(spec.get("labels", []), "labels")),
            str(spec.get("dataset_status", "active")),
        ),
        owner=owner,
        beneficiary=beneficiary,
        approver_grants=tuple(
            _grant(str(s), owner, beneficiary)
            for s in _strings(spec.get("approvers", ["owner:steward"]), "approvers")
        ),
        required_approvals=_int(spec, "required_approvals", 1),
        approvals=approvals,
        steward_approvals=_int(spec, "steward_approvals", approvals),
        rejected=_bool(spec, "rejected", False),
        partnership_active=_bool(spec, "partnership_active", True),
        embargo_over=_bool(spec, "embargo_over", True),
        expired=_bool(spec, "expired", False),
        attestation_required=_bool(spec, "attestation_required", False),
        attested=_bool(spec, "attested", False),
        attestation_org_id=str(attester) if attester else None,
        purpose=str(spec.get("purpose", "testing")),
    )


def population_share(spec: Mapping[str, Any]) -> PopulationShare:
    _keys(spec, SHARING_FIELDS, "sharing")
    return PopulationShare(
        dataset=DatasetResource(
            "dataset-1",
            organization(spec.get("owner", DEFAULT_OWNER)),
            tuple(_strings(spec.get("labels", []), "labels")),
            str(spec.get("dataset_status", "active")),
        ),
        partner=organization(spec.get("partner", DEFAULT_BENEFICIARY)),
        partnership_kind=str(spec.get("kind", "technology")),
    )


def resource(spec: Mapping[str, Any]) -> object:
    kind = spec.get("type")
    if kind not in RESOURCE_FIELDS:
        raise CaseFormatError(f"resource.type is one of {', '.join(RESOURCE_FIELDS)}")
    fields = {k: v for k, v in spec.items() if k != "type"}
    _keys(fields, RESOURCE_FIELDS[kind], f"a {kind} resource")
    return _BUILDERS[kind](fields)


def _partnership(spec: Mapping[str, Any]) -> PartnershipResource:
    orgs = _strings(spec.get("orgs", ["acme", "globex"]), "orgs")
    if len(orgs) != 2:
        raise CaseFormatError("a partnership has two orgs")
    statuses = _strings(spec.get("org_statuses", ["active", "active"]), "org_statuses")
    return PartnershipResource(
        str(spec.get("id", "partnership-1")),
        (orgs[0], orgs[1]),
        str(spec.get("status", "active")),
        tuple(statuses),
    )


def _audit_log(spec: Mapping[str, Any]) -> AuditLogResource:
    org = spec.get("org")
    return AuditLogResource(organization(org) if org else None)


def _access_token(spec: Mapping[str, Any]) -> AccessTokenResource:
    return AccessTokenResource(str(spec.get("principal", "someone")), organization(spec["org"]))


_BUILDERS: dict[str, Callable[[Mapping[str, Any]], object]] = {
    "Platform": lambda _: PLATFORM,
    "Organization": lambda spec: organization(dict(spec)),
    "Partnership": _partnership,
    "Dataset": dataset,
    "Agreement": agreement,
    "AuditLog": _audit_log,
    "AccessToken": _access_token,
    "Member": lambda spec: MemberResource(
        str(spec.get("id", "someone")), organization(spec.get("org", DEFAULT_OWNER))
    ),
}


def _grant(spec: str, owner: OrgResource, beneficiary: OrgResource) -> ApproverGrant:
    parts = spec.split(":")
    if parts[0] == "owner" and len(parts) == 2:
        return ApproverGrant(spec, owner.id, parts[1])
    if parts[0] == "beneficiary" and len(parts) == 2:
        return ApproverGrant(spec, beneficiary.id, parts[1])
    if spec == "operator":
        return ApproverGrant(spec, "platform", "operator")
    if parts[0] == "org" and len(parts) == 3:
        return ApproverGrant(spec, parts[1], parts[2])
    raise CaseFormatError(
        f"approver {spec!r} is not owner:<role>, beneficiary:<role>, operator or org:<slug>:<role>"
    )


def _keys(
    spec: Mapping[str, Any],
    allowed: Collection[str],
    what: str,
    required: Collection[str] = (),
) -> None:
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise CaseFormatError(f"unknown {what} field(s): {', '.join(map(str, unknown))}")
    missing = sorted(set(required) - set(spec))
    if missing:
        raise CaseFormatError(f"{what} needs {', '.join(missing)}")


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise CaseFormatError(f"{what} is a mapping")
    return value


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CaseFormatError(f"{what} is a list of strings")
    return value


def _int(spec: Mapping[str, Any], name: str, default: int) -> int:
    value = spec.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise CaseFormatError(f"{name} is an integer")
    return value


def _bool(spec: Mapping[str, Any], name: str, default: bool) -> bool:
    value = spec.get(name, default)
    if not isinstance(value, bool):
        raise CaseFormatError(f"{name} is true or false")
    return value


def _clipped(text: str) -> str:
    if len(text) <= MAX_ECHOED_CHARS:
        return text
    return text[: MAX_ECHOED_CHARS - 1] + "\u2026"
