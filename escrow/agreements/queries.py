"""Agreements as the policy sees them, and the reads their lifecycle is built on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from escrow.agreements.terms import resolve_grants
from escrow.datasets.queries import as_resource as dataset_resource
from escrow.datasets.queries import find_dataset
from escrow.orgs.queries import active_partnership_exists, org_by_id, partnership_since
from escrow.orgs.queries import as_resource as org_resource
from escrow.policy.resources import AgreementResource
from storage.models import Agreement, AgreementAttestation, AgreementDecision

OPEN = ("pending", "released")  # the states that time or the release rule may still change


def as_resource(session: Session, agreement: Agreement, now: datetime) -> AgreementResource:
    dataset = find_dataset(session, agreement.dataset_id)
    owner = org_by_id(session, agreement.owner_org_id)
    beneficiary = org_by_id(session, agreement.beneficiary_org_id)
    decisions = list(
        session.scalars(
            select(AgreementDecision).where(AgreementDecision.agreement_id == agreement.id)
        )
    )
    approvals = [d for d in decisions if d.decision == "approve"]
    attested = (
        agreement.attestation_event is None
        or session.scalar(
            select(AgreementAttestation.id).where(
                AgreementAttestation.agreement_id == agreement.id,
                AgreementAttestation.event == agreement.attestation_event,
                AgreementAttestation.org_id == agreement.attestation_org_id,
            )
        )
        is not None
    )
    return AgreementResource(
        id=agreement.id,
        state=agreement.state,
        dataset=dataset_resource(session, dataset),
        owner=org_resource(session, owner),
        beneficiary=org_resource(session, beneficiary),
        approver_grants=resolve_grants(session, agreement),
        required_approvals=agreement.required_approvals,
        approvals=len(approvals),
        steward_approvals=sum(1 for d in approvals if d.approver == "owner:steward"),
        rejected=any(d.decision in ("reject", "object") for d in decisions),
        partnership_active=active_partnership_exists(session, owner.id, beneficiary.id),
        embargo_over=agreement.not_before is None or now >= agreement.not_before,
        expired=agreement.expires_at is not None and now >= agreement.expires_at,
        attestation_required=agreement.attestation_event is not None,
        attested=attested,
        attestation_org_id=agreement.attestation_org_id,
        purpose=agreement.purpose,
    )


def conditions_met_at(session: Session, agreement: Agreement, now: datetime) -> datetime:
    """The instant the release rule became true, for a pending agreement it holds for now.

    With an embargo, that is its end (``not_before``) unless an approval, attestation or the
    partnership came later: a release the sweep or an access sees at 10:05 for an embargo
    that ended at 10:00 is dated 10:00, whoever looked. Without one, it is now (the other
    conditions are met by requests, which evaluate the agreement as they commit).
    """
    if agreement.not_before is None or agreement.not_before > now:
        return now
    latest = [
        session.scalar(
            select(func.max(AgreementDecision.created_at)).where(
                AgreementDecision.agreement_id == agreement.id
            )
        ),
        session.scalar(
            select(func.max(AgreementAttestation.created_at)).where(
                AgreementAttestation.agreement_id == agreement.id
            )
        ),
        partnership_since(session, agreement.owner_org_id, agreement.beneficiary_org_id),
    ]
    return min(now, max([agreement.not_before, *(m for m in latest if m is not None)]))


def lock_open(session: Session, *criteria: ColumnElement[bool]) -> list[Agreement]:
    """Open agreements matching ``criteria``, row-locked in id order, fresh from the database.

    Rows another transaction holds are skipped, never waited for: that transaction is
    changing the agreement right now and records the outcome itself (a lazy refresh only
    brings forward what the next access or sweep would do). Never waiting, a refresh of many
    agreements cannot deadlock with a request that holds one and waits for the log head.
    """
    query = (
        select(Agreement)
        .where(Agreement.state.in_(OPEN), *criteria)
        .order_by(Agreement.id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(query))
