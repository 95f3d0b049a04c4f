"""Escrow agreements, their decisions, attestations and the parties with a say in them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import ID, Base


class Agreement(Base):
    """Escrow terms of one dataset for one beneficiary organization."""

    __tablename__ = "agreements"
    __table_args__ = (Index("ix_agreements_beneficiary_state", "beneficiary_org_id", "state"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    beneficiary_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    purpose: Mapped[str] = mapped_column(Text)
    required_approvals: Mapped[int] = mapped_column(Integer)
    approvers: Mapped[list[str]] = mapped_column(JSON)  # e.g. "owner:steward", "org:<slug>:admin"
    not_before: Mapped[datetime | None]
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    objection_seconds: Mapped[int | None] = mapped_column(Integer)
    attestation_event: Mapped[str | None] = mapped_column(String(64))
    attestation_org_id: Mapped[str | None] = mapped_column(String(36))
    view: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    conditions_met_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(64))
    release_receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AgreementDecision(Base):
    """An approval or rejection by one principal, under one of the agreement's approver specs."""

    __tablename__ = "agreement_decisions"
    __table_args__ = (UniqueConstraint("agreement_id", "principal_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), index=True)
    principal_id: Mapped[str] = mapped_column(ID)
    org_id: Mapped[str] = mapped_column(ID)
    approver: Mapped[str] = mapped_column(String(120))  # the spec it satisfied
    decision: Mapped[str] = mapped_column(String(10))  # "approve" | "reject" | "object"
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class AgreementAttestation(Base):
    """A designated organization's statement that the trigger event happened."""

    __tablename__ = "agreement_attestations"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[str] = mapped_column(ID)
    principal_id: Mapped[str] = mapped_column(ID)
    statement: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class AgreementParty(Base):
    """Organizations with a say in an agreement (owner, beneficiary, approver, attester).

    Lets list endpoints and audit scoping filter agreements in SQL.
    """

    __tablename__ = "agreement_parties"

    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ID, primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)
