"""What the agreement use cases return: an agreement with its decisions and what still blocks
its release, the owner's preview, and an agreement's status as the policy's explain shows it.

Built inside the use case while its session is open (see escrow/orgs/results.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from escrow.policy.facts import AgreementStatus, Waiting
from storage.models import Agreement, AgreementDecision


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    principal_id: str
    org_id: str
    approver: str  # the approver spec it decided as (owner:steward, ...)
    decision: str  # approve | reject
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AttestationTerm:
    """The event that must be attested before release, and by whom."""

    event: str
    by: str  # the attesting organization's slug ("?" if it is gone)


@dataclass(frozen=True, slots=True)
class AgreementRecord:
    """An agreement as its parties see it, with what blocks its release evaluated when the
    use case ran."""

    id: str
    dataset_id: str
    owner: str  # the organizations' slugs
    beneficiary: str
    purpose: str
    state: str
    required_approvals: int
    approvers: tuple[str, ...]
    not_before: datetime | None
    expires_at: datetime | None
    objection_window_hours: int | None
    attestation: AttestationTerm | None
    view: dict[str, Any] | None
    decisions: tuple[ApprovalDecision, ...]  # in the order they were made
    blockers: tuple[str, ...] | None  # None once it is not pending
    conditions_met_at: datetime | None
    released_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    release_receipt: dict[str, Any] | None
    created_at: datetime
    # While the release rule holds but the objection window is open ("objection_window").
    objection_window_ends_at: datetime | None


@dataclass(frozen=True, slots=True)
class Preview:
    """The first rows of a version through the agreement's view: CSV rows are lists (the
    header first), JSON Lines rows are objects."""

    version: int
    view_sha256: str | None
    rows: list[Any]


def agreement_of(
    row: Agreement,
    slugs: Mapping[str, str],
    decisions: list[AgreementDecision],
    waiting: Waiting,
) -> AgreementRecord:
    """``slugs`` maps organization ids to slugs and holds the owner's and beneficiary's;
    ``decisions`` are the agreement's in order; ``waiting`` is what blocks it now."""
    attestation = None
    if row.attestation_event:
        by = slugs.get(row.attestation_org_id or "", "?")
        attestation = AttestationTerm(row.attestation_event, by)
    return AgreementRecord(
        id=row.id,
        dataset_id=row.dataset_id,
        owner=slugs[row.owner_org_id],
        beneficiary=slugs[row.beneficiary_org_id],
        purpose=row.purpose,
        state=row.state,
        required_approvals=row.required_approvals,
        approvers=tuple(row.approvers),
        not_before=row.not_before,
        expires_at=row.expires_at,
        objection_window_hours=row.objection_seconds // 3600 if row.objection_seconds else None,
        attestation=attestation,
        view=row.view,
        decisions=tuple(decision_of(d) for d in decisions),
        blockers=waiting.blockers,
        conditions_met_at=row.conditions_met_at,
        released_at=row.released_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        release_receipt=row.release_receipt,
        created_at=row.created_at,
        objection_window_ends_at=waiting.objection_window_ends_at,
    )


def decision_of(row: AgreementDecision) -> ApprovalDecision:
    return ApprovalDecision(
        row.principal_id, row.org_id, row.approver, row.decision, row.created_at
    )


def status_of(row: Agreement, waiting: Waiting) -> AgreementStatus:
    return AgreementStatus(
        id=row.id,
        state=row.state,
        blockers=waiting.blockers,
        not_before=row.not_before,
        expires_at=row.expires_at,
        released_at=row.released_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
        objection_window_ends_at=waiting.objection_window_ends_at,
    )
