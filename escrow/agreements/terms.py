"""Escrow terms and their validation: dates, approver specs and disclosure views."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.context import PLATFORM_SLUG
from escrow.errors import ConflictError, NotFoundError, ValidationError
from escrow.policy.resources import ApproverGrant
from storage.models import Agreement, AgreementParty, Organization
from tabular.validation import InvalidViewError
from tabular.validation import validate_view as tabular_validate_view

ROLES = ("admin", "steward", "member", "auditor")
APPROVER_PATTERN = re.compile(
    r"^(owner|beneficiary):(admin|steward|member)$|^operator$|"
    r"^org:([a-z][a-z0-9-]{1,61}[a-z0-9]):(admin|steward|member)$"
)


@dataclass(frozen=True)
class Terms:
    beneficiary: str
    purpose: str
    required_approvals: int
    approvers: list[str]
    not_before: datetime | None
    expires_at: datetime | None
    objection_hours: int | None
    attestation_event: str | None
    attestation_by: str | None
    view: dict[str, Any] | None


@dataclass(frozen=True)
class Parties:
    owner: Organization
    beneficiary: Organization


def validate_approvers(specs: list[str]) -> list[str]:
    bad = [spec for spec in specs if not APPROVER_PATTERN.match(spec)]
    if not specs or bad:
        raise ValidationError(
            'approvals.from must name approvers like "owner:steward", "beneficiary:admin", '
            '"operator" or "org:<slug>:<role>"',
            field="approvals.from",
            invalid=bad,
        )
    return sorted(set(specs))


def resolve_grants(session: Session, agreement: Agreement) -> tuple[ApproverGrant, ...]:
    """Each approver spec as the (organization, role) it names; unknown orgs grant nothing."""
    grants = []
    for spec in agreement.approvers:
        parts = spec.split(":")
        if parts[0] == "owner":
            grants.append(ApproverGrant(spec, agreement.owner_org_id, parts[1]))
        elif parts[0] == "beneficiary":
            grants.append(ApproverGrant(spec, agreement.beneficiary_org_id, parts[1]))
        elif parts[0] == "operator":
            platform = _org_id(session, PLATFORM_SLUG)
            if platform:
                grants.append(ApproverGrant(spec, platform, "operator"))
        elif (org_id := _org_id(session, parts[1])) is not None:
            grants.append(ApproverGrant(spec, org_id, parts[2]))
    return tuple(grants)


def check_named_orgs(session: Session, specs: list[str]) -> None:
    """Every organization an "org:<slug>:<role>" approver names exists (404 otherwise)."""
    for spec in specs:
        if spec.startswith("org:"):
            slug = spec.split(":")[1]
            if _org_id(session, slug) is None:
                raise NotFoundError(f"no organization {slug!r} (named by approver {spec!r})")


def parties_of(session: Session, agreement: Agreement) -> list[AgreementParty]:
    """Who may read the agreement: each organization with the role it takes there."""
    parties = {(agreement.owner_org_id, "owner"), (agreement.beneficiary_org_id, "beneficiary")}
    grants = resolve_grants(session, agreement)
    parties |= {(grant.org_id, f"approver:{grant.role}") for grant in grants}
    if agreement.attestation_org_id:
        parties.add((agreement.attestation_org_id, "attester:steward"))
    return [
        AgreementParty(agreement_id=agreement.id, org_id=org_id, role=role)
        for org_id, role in sorted(parties)
    ]


def party_roles(roles: tuple[str, ...]) -> list[str]:
    """The agreement_parties roles whose agreements a principal with ``roles`` may read.

    Owner and beneficiary members read theirs whatever their role (every principal holds
    one); named approvers and attesters only with the role they were named by. The role
    hierarchy mirrors holds_role in main.polar; the list-filter test proves them equal.
    """
    held = set(roles)
    if "admin" in held:
        held |= {"steward", "member"}
    if "steward" in held:
        held.add("member")
    named = [f"approver:{role}" for role in sorted(held)]
    return ["owner", "beneficiary", *named, *(["attester:steward"] if "steward" in held else [])]


def _org_id(session: Session, slug: str) -> str | None:
    return session.scalar(select(Organization.id).where(Organization.slug == slug))


def validate_view(
    view: dict[str, Any] | None, schema: dict[str, Any] | None
) -> dict[str, Any] | None:
    """A view names fields and row predicates of a tabular dataset's recorded schema.

    No view (or ``None``) grants the dataset whole; only tabular datasets take a view.
    The rules are ``tabular.validate_view``'s; this maps its refusal to a 422.
    """
    try:
        checked: dict[str, Any] | None = tabular_validate_view(view, schema)
    except InvalidViewError as invalid:
        raise ValidationError(str(invalid), field=invalid.field, **invalid.extra) from None
    return checked


def check_times(terms: Terms, now: datetime) -> None:
    if terms.expires_at is not None and terms.expires_at <= now:
        raise ValidationError("expires_at must be in the future", field="expires_at")
    if terms.not_before and terms.expires_at and terms.not_before >= terms.expires_at:
        raise ValidationError("not_before must come before expires_at", field="not_before")
    if (terms.attestation_event is None) != (terms.attestation_by is None):
        raise ValidationError(
            "an attestation names both its event and the attesting org", field="attestation"
        )


def no_partnership(owner: str, beneficiary: str) -> ConflictError:
    """The same refusal whether or not ``beneficiary`` names an organization: no oracle."""
    return ConflictError(
        f"{owner} and {beneficiary} have no active partnership, which the policy requires"
        " for release"
    )
