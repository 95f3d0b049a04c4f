"""The plain objects the Polar policy reasons about (registered with Oso under these names)."""

from __future__ import annotations

from dataclasses import dataclass, field

ORG_ROLES = frozenset({"admin", "steward", "member", "auditor"})
PLATFORM_ROLES = ORG_ROLES | {"operator"}


@dataclass(frozen=True)
class Platform:
    """The ecosystem itself: the resource of operator-only actions."""


@dataclass(frozen=True)
class OrgResource:
    id: str
    slug: str
    status: str
    tier: str
    partner_org_ids: tuple[str, ...] = field(default=())
    # Whether a non-removed principal holds "admin": while none does, an operator may seed
    # the first one. True unless computed, so that a resource built without it fails closed.
    has_admin: bool = True


@dataclass(frozen=True)
class MemberResource:
    """A principal (user or service account) as the target of a role change."""

    id: str
    org: OrgResource


@dataclass(frozen=True)
class PartnershipResource:
    id: str
    org_ids: tuple[str, str]
    status: str = "active"  # "ended" once an operator ends it
    org_statuses: tuple[str, ...] = ("active", "active")  # of org_ids, in that order


@dataclass(frozen=True)
class DatasetResource:
    id: str
    owner: OrgResource
    labels: tuple[str, ...]
    status: str
    released_to: tuple[str, ...] = ()  # orgs with a released, unexpired agreement now


@dataclass(frozen=True)
class PopulationShare:
    """A population's sharing toward one partner: what an overlap ceiling rule judges."""

    dataset: DatasetResource
    partner: OrgResource
    partnership_kind: str


@dataclass(frozen=True)
class ApproverGrant:
    """One approver spec of an agreement resolved to the organization and role it names."""

    spec: str
    org_id: str
    role: str


@dataclass(frozen=True)
class AgreementResource:
    """An agreement with every release input computed at one instant of the injected clock."""

    id: str
    state: str
    dataset: DatasetResource
    owner: OrgResource
    beneficiary: OrgResource
    approver_grants: tuple[ApproverGrant, ...]
    required_approvals: int
    approvals: int
    steward_approvals: int
    rejected: bool
    partnership_active: bool
    embargo_over: bool
    expired: bool
    attestation_required: bool
    attested: bool
    attestation_org_id: str | None
    purpose: str


@dataclass(frozen=True)
class AccessTokenResource:
    principal_id: str
    org: OrgResource


@dataclass(frozen=True)
class AuditLogResource:
    """The audit trail as a whole (``org`` None) or the events that touch one organization."""

    org: OrgResource | None = None


PLATFORM = Platform()
