"""Agreement bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from escrow.cli.client.models import Request, Slug

Text = Annotated[str, msgspec.Meta(max_length=4000)]
Event = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{1,63}$")]
Approver = Annotated[str, msgspec.Meta(max_length=80)]


class Approvals(Request):
    required: Annotated[int, msgspec.Meta(ge=0, le=20)]
    from_: Annotated[list[Approver], msgspec.Meta(min_length=1, max_length=20)] = msgspec.field(
        name="from"
    )


class Attestation(Request):
    event: Event
    by: Slug


class AgreementCreate(Request):
    beneficiary: Slug
    purpose: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    approvals: Approvals
    not_before: datetime | None = None
    expires_at: datetime | None = None
    objection_window_hours: Annotated[int, msgspec.Meta(ge=1, le=24 * 90)] | None = None
    attestation: Attestation | None = None
    view: dict[str, Any] | None = None


class DecisionIn(Request):
    decision: Literal["approve", "reject"]
    reason: Text = ""


class AttestationIn(Request):
    event: Event
    statement: Text = ""


class ReasonIn(Request):
    reason: Text = ""


class DecisionOut(msgspec.Struct):
    principal: str
    org_id: str
    approver: str
    decision: str
    created_at: datetime


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
    objection_window_ends_at: datetime | None = None


class PreviewOut(msgspec.Struct):
    """CSV rows are lists (the header first); JSON Lines rows are objects."""

    version: int
    view_sha256: str | None
    rows: list[Any]
