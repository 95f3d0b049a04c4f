"""What the specs in a policy test case build: the actors and resources the engine decides on.

Each builder checks its spec's fields (``CaseFormatError`` names the first wrong one) and fills
in the defaults that ``escrow.policy.testing`` documents with the case format.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from escrow.context import Actor
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

__all__ = [
    "ACTOR_KEYS",
    "AGREEMENT_FIELDS",
    "DEFAULT_BENEFICIARY",
    "DEFAULT_OWNER",
    "ORG_KEYS",
    "RESOURCE_FIELDS",
    "SHARING_FIELDS",
    "CaseFormatError",
    "actor",
    "agreement",
    "as_mapping",
    "as_strings",
    "check_keys",
    "dataset",
    "organization",
    "population_share",
    "resource",
]

# Slugs no real organization is expected to have: a repository case that leaves the owner
# out is not affected when some organization's own release rules are added.
DEFAULT_OWNER, DEFAULT_BENEFICIARY = "owner-org", "partner-org"
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


def actor(spec: Mapping[str, Any]) -> Actor:
    check_keys(spec, ACTOR_KEYS, "actor", required={"org"})
    org = str(spec["org"])
    roles = tuple(as_strings(spec.get("roles", []), "actor.roles"))
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
    spec = as_mapping(spec, "organization")
    check_keys(spec, ORG_KEYS, "organization", required={"slug"})
    return OrgResource(
        id=str(spec["slug"]),
        slug=str(spec["slug"]),
        status=str(spec.get("status", "active")),
        tier=str(spec.get("tier", "core")),
        partner_org_ids=tuple(as_strings(spec.get("partners", []), "partners")),
        has_admin=_bool(spec, "has_admin", True),
    )


def dataset(spec: Mapping[str, Any]) -> DatasetResource:
    return DatasetResource(
        id=str(spec.get("id", "dataset-1")),
        owner=organization(spec.get("owner", DEFAULT_OWNER)),
        labels=tuple(as_strings(spec.get("labels", []), "labels")),
        status=str(spec.get("status", "active")),
        released_to=tuple(as_strings(spec.get("released_to", []), "released_to")),
    )


def agreement(spec: Mapping[str, Any]) -> AgreementResource:
    check_keys(spec, AGREEMENT_FIELDS, "agreement")
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
            tuple(as_strings(spec.get("labels", []), "labels")),
            str(spec.get("dataset_status", "active")),
        ),
        owner=owner,
        beneficiary=beneficiary,
        approver_grants=tuple(
            _grant(str(s), owner, beneficiary)
            for s in as_strings(spec.get("approvers", ["owner:steward"]), "approvers")
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
    check_keys(spec, SHARING_FIELDS, "sharing")
    return PopulationShare(
        dataset=DatasetResource(
            "dataset-1",
            organization(spec.get("owner", DEFAULT_OWNER)),
            tuple(as_strings(spec.get("labels", []), "labels")),
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
    check_keys(fields, RESOURCE_FIELDS[kind], f"a {kind} resource")
    return _BUILDERS[kind](fields)


def _partnership(spec: Mapping[str, Any]) -> PartnershipResource:
    orgs = as_strings(spec.get("orgs", ["acme", "globex"]), "orgs")
    if len(orgs) != 2:
        raise CaseFormatError("a partnership has two orgs")
    statuses = as_strings(spec.get("org_statuses", ["active", "active"]), "org_statuses")
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


def check_keys(
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


def as_mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise CaseFormatError(f"{what} is a mapping")
    return value


def as_strings(value: Any, what: str) -> list[str]:
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
