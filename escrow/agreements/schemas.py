"""Agreement bodies (DESIGN section 10 shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from escrow.agreements.results import AgreementRecord, ApprovalDecision, Preview
from escrow.agreements.terms import APPROVER_PATTERN
from escrow.schemas import Input, Slug

Text = Annotated[str, msgspec.Meta(max_length=4000)]
Event = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{1,63}$")]
# The pattern is documented; terms.validate_approvers checks it (422 naming approvals.from).
Approver = Annotated[
    str, msgspec.Meta(max_length=80, extra_json_schema={"pattern": APPROVER_PATTERN.pattern})
]


class Approvals(Input):
    required: Annotated[int, msgspec.Meta(ge=0, le=20)]
    from_: Annotated[list[Approver], msgspec.Meta(min_length=1, max_length=20)] = msgspec.field(
        name="from"
    )


class Attestation(Input):
    event: Event
    by: Slug


class AgreementCreate(Input):
    beneficiary: Slug
    purpose: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    approvals: Approvals
    not_before: datetime | None = None
    expires_at: datetime | None = None
    objection_window_hours: Annotated[int, msgspec.Meta(ge=1, le=24 * 90)] | None = None
    attestation: Attestation | None = None
    view: dict[str, Any] | None = None


class DecisionIn(Input):
    decision: Literal["approve", "reject"]
    reason: Text = ""


class AttestationIn(Input):
    event: Event
    statement: Text = ""


class ReasonIn(Input):
    reason: Text = ""


class DecisionOut(msgspec.Struct):
    principal: str
    org_id: str
    approver: str
    decision: str
    created_at: datetime

    @classmethod
    def of(cls, decision: ApprovalDecision) -> DecisionOut:
        return cls(
            decision.principal_id,
            decision.org_id,
            decision.approver,
            decision.decision,
            decision.created_at,
        )


class AgreementOut(msgspec.Struct):
    id: str
    dataset_id: str
    owner: str
    beneficiary: str
    purpose: str
    state: str
    approvals: dict[str, Any]
    not_before: datetime | None
    expires_at: datetime | None
    objection_window_hours: int | None
    attestation: dict[str, Any] | None
    view: dict[str, Any] | None
    decisions: list[DecisionOut]
    blockers: list[str] | None
    conditions_met_at: datetime | None
    released_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    release_receipt: dict[str, Any] | None
    created_at: datetime
    # While the release rule holds but the objection window is open ("objection_window").
    objection_window_ends_at: datetime | None = None

    @classmethod
    def of(cls, agreement: AgreementRecord) -> AgreementOut:
        term = agreement.attestation
        return cls(
            id=agreement.id,
            dataset_id=agreement.dataset_id,
            owner=agreement.owner,
            beneficiary=agreement.beneficiary,
            purpose=agreement.purpose,
            state=agreement.state,
            approvals={
                "required": agreement.required_approvals,
                "from": list(agreement.approvers),
            },
            not_before=agreement.not_before,
            expires_at=agreement.expires_at,
            objection_window_hours=agreement.objection_window_hours,
            attestation=None if term is None else {"event": term.event, "by": term.by},
            view=agreement.view,
            decisions=[DecisionOut.of(d) for d in agreement.decisions],
            blockers=None if agreement.blockers is None else list(agreement.blockers),
            conditions_met_at=agreement.conditions_met_at,
            released_at=agreement.released_at,
            ended_at=agreement.ended_at,
            end_reason=agreement.end_reason,
            release_receipt=agreement.release_receipt,
            created_at=agreement.created_at,
            objection_window_ends_at=agreement.objection_window_ends_at,
        )


class PreviewOut(msgspec.Struct):
    """CSV rows are lists (the header first); JSON Lines rows are objects."""

    version: int
    view_sha256: str | None
    rows: list[Any]

    @classmethod
    def of(cls, preview: Preview) -> PreviewOut:
        return cls(preview.version, preview.view_sha256, preview.rows)
