"""Agreement state over time: the release rule applied to what agreements.queries reads.

Evaluation is lazy (on every access) and also swept on a schedule; both use the injected
clock and date each transition at the instant it became true (an objection window that
ended at 10:00:00 releases at 10:00:00, whoever looks at 10:05), so the outcome does not
depend on when somebody looked.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from crypto import KeyManager, sign_document
from escrow.agreements.queries import OPEN, conditions_met_at, lock_open
from escrow.agreements.queries import as_resource as agreement_resource
from escrow.audit.log import AuditLog, AuditRecord
from escrow.clock import Clock
from escrow.context import RequestContext
from escrow.datasets.disclosure import view_hash
from escrow.orgs.queries import org_by_id
from escrow.policy.engine import Policy, ReleaseDecision
from storage.db import Database
from storage.models import (
    Agreement,
    AgreementDecision,
)

RELEASE_RECEIPT_TYPE = "partner-escrow/release-receipt/v1"


class Lifecycle:
    """Applies time and the release rule to agreements, inside the caller's transaction,
    recording each transition as done by ``ctx`` (the caller, or a job's context)."""

    def __init__(self, clock: Clock, audit: AuditLog, policy: Policy, keys: KeyManager) -> None:
        self.clock = clock
        self.audit = audit
        self.policy = policy
        self.keys = keys  # its current service signer signs release receipts

    def decide(self, session: Session, agreement: Agreement) -> ReleaseDecision:
        """The release rule's answer for ``agreement`` now, changing nothing."""
        return self.policy.release(agreement_resource(session, agreement, self.clock.now()))

    def refresh(
        self, session: Session, ctx: RequestContext, agreement: Agreement
    ) -> ReleaseDecision | None:
        """Bring ``agreement`` up to date; returns the release decision if it was pending.

        Locks the agreement's row first: of two requests that evaluate it at once (an
        approval and a partner's download, say), exactly one records each transition and its
        audit event, and the other sees the outcome. Call it before this transaction appends
        to the audit log: agreement rows are locked before the log head, never after.
        """
        if agreement.state in OPEN:
            state = session.scalar(
                select(Agreement.state).where(Agreement.id == agreement.id).with_for_update()
            )
            if state != agreement.state:  # changed since it was read: take the new state
                session.refresh(agreement)
        return self.refresh_locked(session, ctx, agreement)

    def refresh_locked(
        self, session: Session, ctx: RequestContext, agreement: Agreement
    ) -> ReleaseDecision | None:
        """``refresh`` on a row this transaction has already locked."""
        now = self.clock.now()
        if agreement.state == "released":
            if agreement.expires_at is not None and now >= agreement.expires_at:
                self._end(session, ctx, agreement, agreement.expires_at)
            return None
        if agreement.state != "pending":
            return None
        decision = self.policy.release(agreement_resource(session, agreement, now))
        if not decision.allowed:
            agreement.conditions_met_at = None
            return decision
        window = agreement.objection_seconds
        met_at = conditions_met_at(session, agreement, now)
        if window:
            if agreement.conditions_met_at is None:
                agreement.conditions_met_at = met_at
                self._event(
                    session,
                    ctx,
                    agreement,
                    "agreement.conditions_met",
                    decision,
                    {"objection_ends": (met_at + timedelta(seconds=window)).isoformat()},
                )
            effective = agreement.conditions_met_at + timedelta(seconds=window)
            if now < effective:
                return decision
        else:
            effective = met_at
        self._release(session, ctx, agreement, decision, effective)
        return decision

    def refresh_for_dataset(
        self, session: Session, ctx: RequestContext, dataset_id: str, org_id: str
    ) -> bool:
        """Lazy evaluation before an access: the org's agreements for this dataset that time
        or the release rule may change now (pending ones, and released ones past their
        expiry: ``refresh_locked`` leaves the others as they are, so they are not locked).
        Whether any was (it is locked until the caller commits)."""
        now = self.clock.now()
        agreements = lock_open(session, *_changing(dataset_id, org_id, now))
        for agreement in agreements:
            self.refresh_locked(session, ctx, agreement)
        return bool(agreements)

    def refresh_due(
        self,
        dataset_id: InstrumentedAttribute[str],
        org_id: str | ColumnElement[str],
        now: datetime | ColumnElement[datetime],
    ) -> ColumnElement[bool]:
        # Equalities, not IN: an IN list is rendered anew at every execution (SQLAlchemy's
        # "post-compile" parameters), and this clause is in every access's query.
        is_open = or_(*(Agreement.state == state for state in OPEN))
        return exists().where(is_open, *_changing(dataset_id, org_id, now))

    def _release(
        self,
        session: Session,
        ctx: RequestContext,
        agreement: Agreement,
        decision: ReleaseDecision,
        at: datetime,
    ) -> None:
        approvers = [
            {"principal": d.principal_id, "org_id": d.org_id, "as": d.approver}
            for d in session.scalars(
                select(AgreementDecision)
                .where(
                    AgreementDecision.agreement_id == agreement.id,
                    AgreementDecision.decision == "approve",
                )
                .order_by(AgreementDecision.created_at, AgreementDecision.id)
            )
        ]
        beneficiary = org_by_id(session, agreement.beneficiary_org_id)
        agreement.state, agreement.released_at = "released", at
        agreement.updated_at = self.clock.now()
        seq = self._event(
            session,
            ctx,
            agreement,
            "agreement.release",
            decision,
            {"approvals": len(approvers), "view_sha256": view_hash(agreement.view)},
            indexed=True,  # the release receipt cites it
        )
        agreement.release_receipt = sign_document(
            {
                "type": RELEASE_RECEIPT_TYPE,
                "agreement_id": agreement.id,
                "dataset_id": agreement.dataset_id,
                "owner_org_id": agreement.owner_org_id,
                "beneficiary": {"org_id": beneficiary.id, "org": beneficiary.slug},
                "approvers": approvers,
                "view_sha256": view_hash(agreement.view),
                "not_before": _iso(agreement.not_before),
                "expires_at": _iso(agreement.expires_at),
                "policy_version": decision.policy_version,
                "time": at.isoformat(timespec="microseconds"),
                "audit_index": seq,
            },
            self.keys.service_signer,
        )

    def _end(
        self, session: Session, ctx: RequestContext, agreement: Agreement, at: datetime
    ) -> None:
        """Expiry: the only end that time brings."""
        agreement.state, agreement.ended_at, agreement.end_reason = "expired", at, "expired"
        agreement.updated_at = self.clock.now()
        self._event(session, ctx, agreement, "agreement.expired", None, {"reason": "expired"})

    def _event(
        self,
        session: Session,
        ctx: RequestContext,
        agreement: Agreement,
        action: str,
        decision: ReleaseDecision | None,
        details: dict[str, Any],
        *,
        indexed: bool = False,
    ) -> int | None:
        return self.audit.append(
            session,
            ctx,
            AuditRecord(
                action,
                "success",
                "agreement",
                agreement.id,
                org_ids=(agreement.owner_org_id, agreement.beneficiary_org_id),
                details={"dataset_id": agreement.dataset_id, **details},
                policy_version=decision.policy_version if decision else None,
            ),
            indexed=indexed,
        )


def sweep(db: Database, lifecycle: Lifecycle) -> int:
    """Scheduled evaluation of agreements whose state may have changed with time."""
    ctx = RequestContext(request_id="agreement-sweep")
    now = lifecycle.clock.now()
    changed = 0
    with db.session() as session:
        due = lock_open(
            session,
            or_(
                Agreement.state == "pending",
                (Agreement.state == "released") & (Agreement.expires_at <= now),
            ),
        )
        for agreement in due:
            before = agreement.state
            lifecycle.refresh_locked(session, ctx, agreement)
            changed += agreement.state != before
        session.commit()
    return changed


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _changing(
    dataset_id: str | InstrumentedAttribute[str],
    org_id: str | ColumnElement[str],
    now: datetime | ColumnElement[datetime],
) -> tuple[ColumnElement[bool], ...]:
    """The org's agreements for the dataset that time or the release rule may change at
    ``now``: pending ones, and released ones past their expiry."""
    return (
        Agreement.dataset_id == dataset_id,
        Agreement.beneficiary_org_id == org_id,
        or_(Agreement.state == "pending", Agreement.expires_at <= now),
    )
