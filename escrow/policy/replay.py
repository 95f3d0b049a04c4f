"""Impact of a candidate policy: recent audited decisions and open releases, decided again.

The audit log records every policy denial (reason ``policy``, with the deciding version)
and every successful guarded change (``org.create``, ``dataset.deposit``, ...), plus every
release with its version. Replaying one rebuilds its actor and resource from the current
database (an actor or resource that no longer exists is skipped) and asks both the active
engine and the candidate: a flip is a decision on which they disagree, so a change in the
data since the event is not mistaken for a change of policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from escrow.context import Actor
from escrow.policy.engine import Policy
from escrow.policy.facts import PolicyFacts
from escrow.policy.resources import PLATFORM, AuditLogResource, OrgResource
from storage.models import (
    Agreement,
    ApiKey,
    AuditEvent,
    Dataset,
    Organization,
    Partnership,
    Principal,
)

_Row = TypeVar("_Row", Agreement, ApiKey, Dataset, Partnership, Principal)

MAX_PENDING = 500  # open agreements compared per report, most recent first
PLATFORM_PERMISSIONS = frozenset(
    {"create_org", "list_all_orgs", "manage_partnerships", "manage_policies"}
)
RELEASE_EVENT = "agreement.release"


@dataclass(frozen=True)
class Present:
    """The database as it is now, read as the policy sees it through the features' facts."""

    session: Session
    facts: PolicyFacts
    now: datetime


# Successful guarded changes: the audit action -> (the permission that allowed it, what
# the permission was checked on, given the event's resource).
Subject = Callable[[Present, AuditEvent], object | None]


@dataclass(frozen=True)
class ReplayedDecision:
    seq: int
    occurred_at: datetime
    actor_id: str | None
    event: str  # the audited action (org.create, ...) or the denied permission
    action: str  # the permission decided, or "release" for the release rule
    resource_type: str
    resource_id: str | None
    recorded: str  # allowed | denied | released
    active: str
    candidate: str


@dataclass(frozen=True)
class ReleaseChange:
    """An open agreement that the candidate would release or block differently."""

    agreement_id: str
    dataset_id: str
    owner_org_id: str
    beneficiary_org_id: str
    active_blockers: tuple[str, ...]
    candidate_blockers: tuple[str, ...]


@dataclass(frozen=True)
class ImpactReport:
    replayed: int
    skipped: int
    flips: list[ReplayedDecision]
    pending_checked: int
    releases: list[ReleaseChange]


def impact(
    session: Session,
    facts: PolicyFacts,
    active: Policy,
    candidate: Policy,
    limit: int,
    now: datetime,
) -> ImpactReport:
    present = Present(session, facts, now)
    replayed, skipped, flips = 0, 0, []
    for event in _recent_decisions(session, limit):
        outcome = _replay(present, event, active, candidate)
        if outcome is None:
            skipped += 1
            continue
        replayed += 1
        if outcome.active != outcome.candidate:
            flips.append(outcome)
    pending = list(
        session.scalars(
            select(Agreement)
            .where(Agreement.state == "pending")
            .order_by(Agreement.created_at.desc(), Agreement.id)
            .limit(MAX_PENDING)
        )
    )
    releases = []
    for agreement in pending:
        resource = facts.agreement(session, agreement, now)
        before, after = active.release(resource).blockers, candidate.release(resource).blockers
        if before != after:
            releases.append(
                ReleaseChange(
                    agreement.id,
                    agreement.dataset_id,
                    agreement.owner_org_id,
                    agreement.beneficiary_org_id,
                    before,
                    after,
                )
            )
    return ImpactReport(replayed, skipped, flips, len(pending), releases)


def _recent_decisions(session: Session, limit: int) -> list[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(
            or_(
                and_(AuditEvent.outcome == "denied", AuditEvent.reason == "policy"),
                and_(
                    AuditEvent.outcome == "success",
                    AuditEvent.action.in_([*SUCCESSES, RELEASE_EVENT]),
                ),
            ),
            AuditEvent.actor_id.is_not(None) | (AuditEvent.action == RELEASE_EVENT),
        )
        .order_by(AuditEvent.seq.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def _replay(
    present: Present, event: AuditEvent, active: Policy, candidate: Policy
) -> ReplayedDecision | None:
    if event.action == RELEASE_EVENT:
        return _replay_release(present, event, active, candidate)
    actor = load_actor(present.session, event.actor_id)
    if actor is None:
        return None
    if event.outcome == "denied":
        permission, subject = event.action, _denied_subject(present, event, actor)
    else:
        permission, resolve = SUCCESSES[event.action]
        subject = resolve(present, event)
    if subject is None:
        return None
    return ReplayedDecision(
        event.seq,
        event.occurred_at,
        event.actor_id,
        event.action,
        permission,
        event.resource_type,
        event.resource_id,
        "denied" if event.outcome == "denied" else "allowed",
        _word(active.decide(actor, permission, subject).allowed),
        _word(candidate.decide(actor, permission, subject).allowed),
    )


def _replay_release(
    present: Present, event: AuditEvent, active: Policy, candidate: Policy
) -> ReplayedDecision | None:
    """The release rule at the instant of the release, on the agreement as it was pending."""
    session = present.session
    agreement = session.get(Agreement, event.resource_id) if event.resource_id else None
    if agreement is None:
        return None
    released = present.facts.agreement(session, agreement, event.occurred_at)
    resource = replace(released, state="pending")
    return ReplayedDecision(
        event.seq,
        event.occurred_at,
        event.actor_id,
        event.action,
        "release",
        event.resource_type,
        event.resource_id,
        "released",
        "released" if active.release(resource).allowed else "blocked",
        "released" if candidate.release(resource).allowed else "blocked",
    )


def _word(allowed: bool) -> str:
    return "allowed" if allowed else "denied"


def load_actor(session: Session, principal_id: str | None) -> Actor | None:
    """A principal as the policy sees it now (None if it no longer exists)."""
    principal = session.get(Principal, principal_id) if principal_id else None
    org = session.get(Organization, principal.org_id) if principal else None
    if principal is None or org is None:
        return None
    return Actor(
        id=principal.id,
        org_id=org.id,
        org_slug=org.slug,
        roles=tuple(principal.roles),
        org_active=org.status == "active",
        kind=principal.kind,
    )


def _denied_subject(present: Present, event: AuditEvent, actor: Actor) -> object:
    """What a denied check was about, from the target the guard recorded."""
    if event.action in PLATFORM_PERMISSIONS:
        return PLATFORM
    if event.action == "create_dataset":
        return _org(present, actor.org_id)
    resolve = _BY_TYPE.get(event.resource_type)
    return resolve(present, event) if resolve else None


def _org(present: Present, org_id: str | None) -> OrgResource | None:
    org = present.session.get(Organization, org_id) if org_id else None
    return present.facts.organization(present.session, org) if org else None


def _row(present: Present, model: type[_Row], row_id: str | None) -> _Row | None:
    return present.session.get(model, row_id) if row_id else None


def _event_org(present: Present, event: AuditEvent) -> object:
    return _org(present, event.resource_id)


def _dataset(present: Present, event: AuditEvent) -> object | None:
    dataset = _row(present, Dataset, event.resource_id)
    return present.facts.dataset(present.session, dataset, present.now) if dataset else None


def _dataset_owner(present: Present, event: AuditEvent) -> object:
    dataset = _row(present, Dataset, event.resource_id)
    return _org(present, dataset.owner_org_id if dataset else None)


def _agreement(present: Present, event: AuditEvent) -> object:
    agreement = _row(present, Agreement, event.resource_id)
    return present.facts.agreement(present.session, agreement, present.now) if agreement else None


def _agreement_dataset(present: Present, event: AuditEvent) -> object:
    agreement = _row(present, Agreement, event.resource_id)
    dataset = _row(present, Dataset, agreement.dataset_id if agreement else None)
    return present.facts.dataset(present.session, dataset, present.now) if dataset else None


def _partnership(present: Present, event: AuditEvent) -> object:
    partnership = _row(present, Partnership, event.resource_id)
    # Without the session: its organizations count as active, as when it was decided.
    return present.facts.partnership(partnership, None) if partnership else None


def _principal_org(present: Present, event: AuditEvent) -> object:
    principal = _row(present, Principal, event.resource_id)
    return _org(present, principal.org_id if principal else None)


def _key_org(present: Present, event: AuditEvent) -> object:
    key = _row(present, ApiKey, event.resource_id)
    principal = _row(present, Principal, key.principal_id if key else None)
    return _org(present, principal.org_id if principal else None)


def _audit_log(present: Present, event: AuditEvent) -> object:
    if event.resource_id is None:
        return AuditLogResource()
    org = _org(present, event.resource_id)
    return AuditLogResource(org) if org is not None else None


def _platform(_present: Present, _event: AuditEvent) -> object:
    return PLATFORM


_BY_TYPE: dict[str, Subject] = {
    "organization": _event_org,
    "dataset": _dataset,
    "agreement": _agreement,
    "partnership": _partnership,
    "audit_log": _audit_log,
    "principal": _principal_org,
}

SUCCESSES: dict[str, tuple[str, Subject]] = {
    "org.create": ("create_org", _platform),
    "org.update": ("update", _event_org),
    "org.suspend": ("change_status", _event_org),
    "org.reactivate": ("change_status", _event_org),
    "partnership.create": ("manage_partnerships", _platform),
    "partnership.end": ("end", _partnership),
    "user.create": ("manage_members", _principal_org),
    "service.create": ("manage_members", _principal_org),
    "user.roles": ("manage_members", _principal_org),
    "service.roles": ("manage_members", _principal_org),
    "user.remove": ("manage_members", _principal_org),
    "service.remove": ("manage_members", _principal_org),
    "key.issue": ("manage_keys", _key_org),
    "key.rotate": ("manage_keys", _key_org),
    "key.revoke": ("manage_keys", _key_org),
    "dataset.create": ("create_dataset", _dataset_owner),
    "dataset.deposit": ("deposit", _dataset),
    "dataset.download": ("download", _dataset),
    "dataset.withdraw": ("withdraw", _dataset),
    "dataset.shred": ("shred", _dataset),
    "agreement.create": ("create_agreement", _agreement_dataset),
    "agreement.approve": ("approve", _agreement),
    "agreement.reject": ("approve", _agreement),
    "agreement.attest": ("attest", _agreement),
    "agreement.object": ("object", _agreement),
    "agreement.revoke": ("revoke", _agreement),
    "agreement.terminate": ("terminate", _agreement),
    "policy.upload": ("manage_policies", _platform),
    "policy.impact": ("manage_policies", _platform),
    "policy.activate": ("manage_policies", _platform),
}
