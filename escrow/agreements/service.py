"""Agreement use cases: set terms, decide, attest, object, release, revoke, terminate; each
returns an ``AgreementRecord`` with what blocks its release (escrow/agreements/results.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from escrow.agreements.lifecycle import Lifecycle
from escrow.agreements.queries import as_resource as agreement_resource
from escrow.agreements.results import AgreementRecord, agreement_of, status_of
from escrow.agreements.terms import (
    Terms,
    check_named_orgs,
    check_times,
    no_partnership,
    parties_of,
    party_roles,
    validate_approvers,
    validate_view,
)
from escrow.audit.log import AuditRecord
from escrow.datasets.access import authorized_dataset
from escrow.errors import ConflictError, InvalidStateError, ValidationError
from escrow.guard import Target
from escrow.orgs.queries import find_org, find_org_or_none, slugs_of
from escrow.paging import Page, decode_cursor, paginate
from escrow.policy.facts import AgreementStatus, Waiting
from escrow.policy.resources import AgreementResource
from escrow.service import Service, ServiceDeps
from storage.models import (
    Agreement,
    AgreementAttestation,
    AgreementDecision,
    AgreementParty,
    Dataset,
    Organization,
)


class AgreementService(Service):
    def __init__(self, deps: ServiceDeps, lifecycle: Lifecycle) -> None:
        super().__init__(deps)
        self.lifecycle = lifecycle

    def create(self, dataset_id: str, terms: Terms) -> AgreementRecord:
        dataset = authorized_dataset(self.deps, dataset_id, "create_agreement")
        if dataset.status != "active":
            raise InvalidStateError(f"dataset is {dataset.status}: no new agreements")
        beneficiary = self._beneficiary(dataset, terms)
        agreement = self._pending(dataset, beneficiary, terms)
        self.session.add(agreement)
        self.session.flush()
        blockers = self.lifecycle.decide(self.session, agreement).blockers
        if "no_active_partnership" in blockers:
            raise no_partnership(self.ctx.principal.org_slug, beneficiary.slug)
        check_named_orgs(self.session, agreement.approvers)
        self.session.add_all(parties_of(self.session, agreement))
        self.commit_with_event(
            AuditRecord(
                "agreement.create",
                "success",
                "agreement",
                agreement.id,
                org_ids=(agreement.owner_org_id, beneficiary.id),
                details={
                    "dataset_id": dataset.id,
                    "required_approvals": terms.required_approvals,
                    "approvers": agreement.approvers,
                },
                sensitive={"purpose": terms.purpose},
            )
        )
        return self._record(agreement)

    def _beneficiary(self, dataset: Dataset, terms: Terms) -> Organization:
        beneficiary = find_org_or_none(self.session, terms.beneficiary)
        if beneficiary is None:  # answered as for an organization that is not a partner
            raise no_partnership(self.ctx.principal.org_slug, terms.beneficiary)
        if beneficiary.id == dataset.owner_org_id:
            raise ValidationError(
                "the beneficiary must be another organization", field="beneficiary"
            )
        return beneficiary

    def _pending(self, dataset: Dataset, beneficiary: Organization, terms: Terms) -> Agreement:
        """A new agreement on the terms, checked (times, approvers, attester, view)."""
        now = self.deps.clock.now()
        check_times(terms, now)
        attester = find_org(self.session, terms.attestation_by) if terms.attestation_by else None
        return Agreement(
            id=self.deps.new_id(),
            dataset_id=dataset.id,
            owner_org_id=dataset.owner_org_id,
            beneficiary_org_id=beneficiary.id,
            purpose=terms.purpose,
            required_approvals=terms.required_approvals,
            approvers=validate_approvers(terms.approvers),
            not_before=terms.not_before,
            expires_at=terms.expires_at,
            objection_seconds=terms.objection_hours * 3600 if terms.objection_hours else None,
            attestation_event=terms.attestation_event,
            attestation_org_id=attester.id if attester else None,
            view=validate_view(terms.view, dataset.schema),
            state="pending",
            created_by=self.ctx.principal.id,
            created_at=now,
            updated_at=now,
        )

    def waiting_on(self, agreement: Agreement) -> Waiting:
        """What still blocks a pending agreement's release, evaluated now; an open objection
        window is a blocker of its own, with the instant it closes."""
        if agreement.state != "pending":
            return Waiting(None)
        decision = self.lifecycle.decide(self.session, agreement)
        if not decision.allowed:
            return Waiting(tuple(decision.blockers))
        ends = None
        if agreement.conditions_met_at is not None and agreement.objection_seconds:
            ends = agreement.conditions_met_at + timedelta(seconds=agreement.objection_seconds)
        return Waiting(("objection_window",), ends)

    def get(self, agreement_id: str) -> AgreementRecord:
        agreement = self._load(agreement_id, "read")
        self._authorize(agreement, "read")
        self.lifecycle.refresh(self.session, self.ctx, agreement)
        self.session.commit()
        return self._record(agreement)

    def list_visible(self, cursor: str | None, limit: int) -> Page:
        """A page of ``AgreementRecord``s: the agreements the policy lets the caller read,
        filtered in SQL by party rows.

        States are as the sweeper and the last access left them: listing evaluates nothing
        (reading one agreement brings it up to date).
        """
        actor = self.ctx.principal
        parties = select(AgreementParty.agreement_id).where(
            AgreementParty.org_id == actor.org_id,
            AgreementParty.role.in_(party_roles(actor.roles)),
        )
        query = select(Agreement).where(Agreement.id.in_(parties))
        if after := decode_cursor(cursor):
            query = query.where(Agreement.id > after)
        rows = self.session.scalars(query.order_by(Agreement.id).limit(limit + 1))
        page = paginate(list(rows), limit)
        return Page(self._records(page.items), page.next_cursor)

    def decide(self, agreement_id: str, decision: str, reason: str) -> AgreementRecord:
        agreement = self._load(agreement_id, "approve")
        resource = self._authorize(agreement, "approve")
        self._require_state(agreement, "pending")
        actor = self.ctx.principal
        spec = next(
            grant.spec
            for grant in resource.approver_grants
            if self.guard.allows(self.ctx, "approve", replace(resource, approver_grants=(grant,)))
        )
        self.session.add(
            AgreementDecision(
                id=self.deps.new_id(),
                agreement_id=agreement.id,
                principal_id=actor.id,
                org_id=actor.org_id,
                approver=spec,
                decision=decision,
                reason=reason,
                created_at=self.deps.clock.now(),
            )
        )
        try:
            self.session.flush()
        except IntegrityError:
            self.session.rollback()
            raise ConflictError("you have already decided on this agreement") from None
        if decision == "reject":
            self._end(agreement, "rejected", "rejected_by_approver")
        self.deps.audit.append(
            self.session,
            self.ctx,
            AuditRecord(
                f"agreement.{decision}",
                "success",
                "agreement",
                agreement.id,
                org_ids=self._org_ids(agreement),
                details={"as": spec},
                sensitive={"reason": reason or None},
            ),
        )
        self.lifecycle.refresh(self.session, self.ctx, agreement)
        self.session.commit()
        return self._record(agreement)

    def attest(self, agreement_id: str, event: str, statement: str) -> AgreementRecord:
        agreement = self._load(agreement_id, "attest")
        self._authorize(agreement, "attest")
        self._require_state(agreement, "pending")
        if event != agreement.attestation_event:
            raise ValidationError(
                f"this agreement waits for the event {agreement.attestation_event!r}",
                field="event",
            )
        actor = self.ctx.principal
        self.session.add(
            AgreementAttestation(
                id=self.deps.new_id(),
                agreement_id=agreement.id,
                event=event,
                org_id=actor.org_id,
                principal_id=actor.id,
                statement=statement,
                created_at=self.deps.clock.now(),
            )
        )
        self.deps.audit.append(
            self.session,
            self.ctx,
            AuditRecord(
                "agreement.attest",
                "success",
                "agreement",
                agreement.id,
                org_ids=self._org_ids(agreement),
                details={"event": event},
                sensitive={"statement": statement or None},
            ),
        )
        self.lifecycle.refresh(self.session, self.ctx, agreement)
        self.session.commit()
        return self._record(agreement)

    def release(self, agreement_id: str) -> AgreementRecord:
        """Asks the release rule now; refused with the unmet conditions if it does not hold."""
        agreement = self._load(agreement_id, "release")
        self._authorize(agreement, "release")
        decision = self.lifecycle.refresh(self.session, self.ctx, agreement)
        self.session.commit()
        if agreement.state != "released":
            waiting = self.waiting_on(agreement) if decision is not None else Waiting(())
            extra: dict[str, Any] = {"blockers": list(waiting.blockers or ())}
            if waiting.objection_window_ends_at is not None:
                extra["objection_window_ends_at"] = waiting.objection_window_ends_at.isoformat()
            raise InvalidStateError(
                f"the release rule does not hold (agreement is {agreement.state})", **extra
            )
        return self._record(agreement)

    def object(self, agreement_id: str, reason: str) -> AgreementRecord:
        """The owner stops a release during its objection window."""
        agreement = self._load(agreement_id, "object")
        self._authorize(agreement, "object")
        self.lifecycle.refresh(self.session, self.ctx, agreement)
        if agreement.state != "pending" or agreement.conditions_met_at is None:
            self.session.commit()
            raise InvalidStateError("there is no objection window open for this agreement")
        return self._finish(agreement, "rejected", "objection", "agreement.object", reason)

    def revoke(self, agreement_id: str, reason: str) -> AgreementRecord:
        """The owner ends it at once: released -> revoked, pending -> rejected."""
        agreement = self._load(agreement_id, "revoke")
        self._authorize(agreement, "revoke")
        self.lifecycle.refresh(self.session, self.ctx, agreement)
        target = {"released": "revoked", "pending": "rejected"}.get(agreement.state)
        if target is None:
            self.session.commit()
            raise InvalidStateError(f"agreement is {agreement.state}: nothing to revoke")
        return self._finish(agreement, target, "revoked_by_owner", "agreement.revoke", reason)

    def terminate(self, agreement_id: str, reason: str) -> AgreementRecord:
        """The beneficiary ends it early: released -> revoked, pending -> rejected."""
        agreement = self._load(agreement_id, "terminate")
        self._authorize(agreement, "terminate")
        self.lifecycle.refresh(self.session, self.ctx, agreement)
        target = {"released": "revoked", "pending": "rejected"}.get(agreement.state)
        if target is None:
            self.session.commit()
            raise InvalidStateError(f"agreement is {agreement.state}: nothing to terminate")
        return self._finish(
            agreement, target, "terminated_by_beneficiary", "agreement.terminate", reason
        )

    def authorized(self, agreement_id: str, action: str) -> Agreement:
        """The agreement if the caller may do ``action`` on it (concealed denials: 404).

        Returns the row: the owner's preview (escrow/agreements/preview.py) goes on to read
        the dataset and the view through it."""
        agreement = self._load(agreement_id, action)
        self._authorize(agreement, action)
        return agreement

    # ------------------------------------------------------------------ internals

    def _records(self, agreements: list[Agreement]) -> list[AgreementRecord]:
        """Their results, each with the blockers it has now (see ``waiting_on``); a page's
        organizations and decisions are read in one query each."""
        ids = {a.owner_org_id for a in agreements} | {a.beneficiary_org_id for a in agreements}
        ids |= {a.attestation_org_id for a in agreements if a.attestation_org_id}
        slugs = slugs_of(self.session, ids)
        decisions = self._decisions(agreements)
        return [agreement_of(a, slugs, decisions[a.id], self.waiting_on(a)) for a in agreements]

    def _record(self, agreement: Agreement) -> AgreementRecord:
        (record,) = self._records([agreement])
        return record

    def _decisions(self, agreements: list[Agreement]) -> dict[str, list[AgreementDecision]]:
        """Each agreement's decisions in the order they were made (one query for a page)."""
        by_agreement: dict[str, list[AgreementDecision]] = {a.id: [] for a in agreements}
        for decision in self.session.scalars(
            select(AgreementDecision)
            .where(AgreementDecision.agreement_id.in_(by_agreement))
            .order_by(AgreementDecision.created_at, AgreementDecision.id)
        ):
            by_agreement[decision.agreement_id].append(decision)
        return by_agreement

    def _finish(
        self, agreement: Agreement, state: str, end_reason: str, action: str, reason: str
    ) -> AgreementRecord:
        self._end(agreement, state, end_reason)
        self.commit_with_event(
            AuditRecord(
                action,
                "success",
                "agreement",
                agreement.id,
                org_ids=self._org_ids(agreement),
                details={"state": state},
                sensitive={"reason": reason or None},
            )
        )
        return self._record(agreement)

    def _end(self, agreement: Agreement, state: str, end_reason: str) -> None:
        now = self.deps.clock.now()
        agreement.state, agreement.ended_at, agreement.end_reason = state, now, end_reason
        agreement.updated_at = now

    def _load(self, agreement_id: str, action: str) -> Agreement:
        """The agreement, or the same concealed denial as for one the caller may not see."""
        agreement = self.session.get(Agreement, agreement_id)
        if agreement is None:
            self.guard.deny_missing(
                self.session, self.ctx, action, Target("agreement", agreement_id)
            )
        return agreement

    def _resource(self, agreement: Agreement) -> AgreementResource:
        return agreement_resource(self.session, agreement, self.deps.clock.now())

    def _authorize(self, agreement: Agreement, action: str) -> AgreementResource:
        resource = self._resource(agreement)
        self.guard.require(
            self.session,
            self.ctx,
            action,
            resource,
            Target("agreement", agreement.id, self._org_ids(agreement)),
            conceal=action == "read" or not self.guard.allows(self.ctx, "read", resource),
        )
        return resource

    def _require_state(self, agreement: Agreement, state: str) -> None:
        self.lifecycle.refresh(self.session, self.ctx, agreement)
        if agreement.state != state:
            self.session.commit()
            raise InvalidStateError(f"agreement is {agreement.state}, not {state}")

    @staticmethod
    def _org_ids(agreement: Agreement) -> tuple[str, ...]:
        ids = [agreement.owner_org_id, agreement.beneficiary_org_id]
        if agreement.attestation_org_id:
            ids.append(agreement.attestation_org_id)
        return tuple(ids)


def agreement_statuses(
    lifecycle: Lifecycle, deps: ServiceDeps, dataset_id: str, org_id: str
) -> list[AgreementStatus]:
    """The org's agreements for the dataset, brought up to date as an access would, with
    what blocks each pending one: why it cannot download (revoked, expired, embargoed)."""
    lifecycle.refresh_for_dataset(deps.session, deps.ctx, dataset_id, org_id)
    deps.session.flush()
    agreements = AgreementService(deps, lifecycle)
    rows = deps.session.scalars(
        select(Agreement)
        .where(Agreement.dataset_id == dataset_id, Agreement.beneficiary_org_id == org_id)
        .order_by(Agreement.created_at, Agreement.id)
    )
    return [status_of(row, agreements.waiting_on(row)) for row in rows]
