"""Agreement use cases through the service layer (no HTTP): terms, decisions, release, ends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.agreements.lifecycle import sweep
from escrow.agreements.results import AgreementRecord
from escrow.agreements.service import AgreementService
from escrow.agreements.terms import Terms
from escrow.audit.log import AuditRecord
from escrow.clock import FrozenClock
from escrow.components import Components
from escrow.context import RequestContext
from escrow.errors import ForbiddenError, InvalidStateError, NotFoundError
from escrow.service import ServiceDeps
from storage.models import Agreement, AgreementDecision
from tests.fixtures.api import Ecosystem
from tests.fixtures.datasets import create_dataset
from tests.unit.services.acting import acting_as, denials_of, events_of


class Deal:
    """Acme escrows a dataset for its partner Globex; Initech is no party to it."""

    def __init__(self, eco: Ecosystem, components: Components) -> None:
        for slug in ("acme", "globex", "initech"):
            eco.org(slug)
        eco.partnership("acme", "globex")
        self.components = components
        self.steward = eco.principal("acme", "steward").id
        self.partner_member = eco.principal("globex", "member").id
        self.partner_admin = eco.principal("globex", "admin").id
        self.outsider = eco.principal("initech", "admin").id
        self.dataset = create_dataset(eco.admin_of("acme"), name="forecast")["id"]

    def agreements(self, deps: ServiceDeps) -> AgreementService:
        return AgreementService(deps, self.components.lifecycle)

    def propose(self, request_id: str = "propose", **terms: Any) -> str:
        fields: dict[str, Any] = {
            "beneficiary": "globex",
            "purpose": "demand planning",
            "required_approvals": 1,
            "approvers": ["owner:steward"],
            "not_before": None,
            "expires_at": None,
            "objection_hours": None,
            "attestation_event": None,
            "attestation_by": None,
            "view": None,
            **terms,
        }
        with acting_as(self.components, self.steward, request_id) as deps:
            return self.agreements(deps).create(self.dataset, Terms(**fields)).id

    def decide(self, principal: str, agreement_id: str, decision: str = "approve") -> str:
        with acting_as(self.components, principal, f"{decision}-{principal}") as deps:
            return self.agreements(deps).decide(agreement_id, decision, "checked").state


@pytest.fixture
def deal(eco: Ecosystem, components: Components) -> Deal:
    return Deal(eco, components)


def stored(deal: Deal, agreement_id: str) -> Agreement:
    with deal.components.db.session() as session:
        agreement = session.get_one(Agreement, agreement_id)
        session.expunge(agreement)
        return agreement


def test_the_named_approval_releases_and_each_change_is_audited_by_its_request(
    deal: Deal,
) -> None:
    agreement_id = deal.propose()
    assert events_of(deal.components, "propose") == [("agreement.create", "success")]
    assert stored(deal, agreement_id).state == "pending"
    assert deal.decide(deal.steward, agreement_id) == "released"
    assert events_of(deal.components, f"approve-{deal.steward}") == [
        ("agreement.approve", "success"),
        ("agreement.release", "success"),
    ]
    released = stored(deal, agreement_id)
    receipt = released.release_receipt or {}
    assert receipt["agreement_id"] == agreement_id and receipt["signature"]
    assert receipt["approvers"][0]["principal"] == deal.steward
    assert receipt["beneficiary"]["org"] == "globex"


def test_a_release_asked_too_early_names_its_blockers_and_changes_nothing(deal: Deal) -> None:
    agreement_id = deal.propose(required_approvals=2, approvers=["owner:steward", "operator"])
    deal.decide(deal.steward, agreement_id)
    with acting_as(deal.components, deal.partner_admin, "read") as deps:
        pending = deal.agreements(deps).get(agreement_id)
    assert isinstance(pending, AgreementRecord)  # a result, not a row of the closed session
    assert (pending.beneficiary, pending.blockers) == ("globex", ("approvals",))
    assert [d.approver for d in pending.decisions] == ["owner:steward"]
    with (
        acting_as(deal.components, deal.partner_admin, "early") as deps,
        pytest.raises(InvalidStateError) as refused,
    ):
        deal.agreements(deps).release(agreement_id)
    assert refused.value.extra["blockers"] == ["approvals"]
    assert stored(deal, agreement_id).state == "pending"
    assert events_of(deal.components, "early") == []


def test_the_sweep_releases_when_the_embargo_ends_dated_at_its_end(
    deal: Deal, clock: FrozenClock
) -> None:
    not_before = clock.now() + timedelta(hours=1)
    agreement_id = deal.propose(not_before=not_before)
    assert deal.decide(deal.steward, agreement_id) == "pending"
    assert sweep(deal.components.db, deal.components.lifecycle) == 0
    clock.advance(hours=3)
    assert sweep(deal.components.db, deal.components.lifecycle) == 1
    released = stored(deal, agreement_id)
    assert (released.state, released.released_at) == ("released", not_before)
    assert events_of(deal.components, "agreement-sweep") == [("agreement.release", "success")]
    assert sweep(deal.components.db, deal.components.lifecycle) == 0


def test_the_sweep_expires_a_release_at_its_expiry(deal: Deal, clock: FrozenClock) -> None:
    expires_at = clock.now() + timedelta(days=1)
    agreement_id = deal.propose(expires_at=expires_at)
    assert deal.decide(deal.steward, agreement_id) == "released"
    clock.advance(days=2)
    assert sweep(deal.components.db, deal.components.lifecycle) == 1
    expired = stored(deal, agreement_id)
    assert (expired.state, expired.ended_at, expired.end_reason) == (
        "expired",
        expires_at,
        "expired",
    )
    assert events_of(deal.components, "agreement-sweep") == [("agreement.expired", "success")]


def test_a_rejection_ends_the_agreement_and_a_revoke_ends_a_release(deal: Deal) -> None:
    rejected = deal.propose(approvers=["owner:steward", "beneficiary:admin"])
    assert deal.decide(deal.partner_admin, rejected, "reject") == "rejected"
    assert stored(deal, rejected).end_reason == "rejected_by_approver"
    with pytest.raises(InvalidStateError):
        deal.decide(deal.steward, rejected)
    released = deal.propose("again")
    deal.decide(deal.steward, released)
    with acting_as(deal.components, deal.steward, "revoke") as deps:
        assert deal.agreements(deps).revoke(released, "ended early").state == "revoked"
    assert events_of(deal.components, "revoke") == [("agreement.revoke", "success")]
    with (
        acting_as(deal.components, deal.partner_admin, "terminate") as deps,
        pytest.raises(InvalidStateError),
    ):
        deal.agreements(deps).terminate(released, "")


def test_the_owner_objects_within_the_window_and_the_release_never_comes(
    deal: Deal, clock: FrozenClock
) -> None:
    agreement_id = deal.propose(objection_hours=24)
    assert deal.decide(deal.steward, agreement_id) == "pending"
    assert events_of(deal.components, f"approve-{deal.steward}") == [
        ("agreement.approve", "success"),
        ("agreement.conditions_met", "success"),
    ]
    clock.advance(hours=23)
    with acting_as(deal.components, deal.steward, "object") as deps:
        assert deal.agreements(deps).object(agreement_id, "wrong columns").state == "rejected"
    clock.advance(hours=2)
    assert sweep(deal.components.db, deal.components.lifecycle) == 0
    assert stored(deal, agreement_id).end_reason == "objection"
    assert events_of(deal.components, "object") == [("agreement.object", "success")]


def test_approvers_not_named_are_refused_outsiders_concealed_and_both_audited(
    deal: Deal,
) -> None:
    agreement_id = deal.propose()
    with pytest.raises(ForbiddenError):
        deal.decide(deal.partner_member, agreement_id)
    with pytest.raises(NotFoundError):
        deal.decide(deal.outsider, agreement_id)
    assert denials_of(deal.components, f"approve-{deal.partner_member}") == [
        (deal.partner_member, "approve", "policy")
    ]
    assert denials_of(deal.components, f"approve-{deal.outsider}") == [
        (deal.outsider, "approve", "policy"),
        (None, "authz.concealed_target", "concealed"),
    ]
    with deal.components.db.session() as session:
        assert session.scalars(select(AgreementDecision.id)).all() == []
    assert stored(deal, agreement_id).state == "pending"


def test_no_release_event_no_release(deal: Deal) -> None:
    """The release and its audit event land together: when the event cannot be written, the
    approval that triggered it is rolled back with it."""
    agreement_id = deal.propose()

    def refuse_release(
        session: Session, ctx: RequestContext, record: AuditRecord, _: int | None
    ) -> None:
        if record.action == "agreement.release":
            raise RuntimeError("the audit log is unavailable")

    deal.components.audit.add_listener(refuse_release)
    with pytest.raises(RuntimeError):
        deal.decide(deal.steward, agreement_id)
    assert stored(deal, agreement_id).state == "pending"
    assert events_of(deal.components, f"approve-{deal.steward}") == []
    with deal.components.db.session() as session:
        assert session.scalars(select(AgreementDecision.id)).all() == []
