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

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from escrow.agreements.lifecycle import agreement_resource
from escrow.datasets.queries import as_resource as dataset_resource
from escrow.orgs.queries import as_resource as org_resource
from escrow.partnerships.service import as_resource as partnership_resource
from escrow.policy.engine import Policy
from escrow.policy.resources import PLATFORM, Actor, AuditLogResource, OrgResource
from storage.models import (
    Agreement,
    ApiKey,
    AuditEvent,
    Dataset,
    Organization,
    Partnership,
    Principal,
)

MAX_PENDING = 500  # open agreements compared per report, most recent first
PLATFORM_PERMISSIONS = frozenset(
    {"create_org", "list_all_orgs", "manage_partnerships", "manage_policies"}
)
RELEASE_EVENT = "agreement.release"

# Successful guarded changes: the audit action -> (the permission that allowed it, what
# the permission was checked on, given the event's resource).
Subject = Callable[[Session, AuditEvent, Actor, datetime], object | None]


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
    session: Session, active: Policy, candidate: Policy, limit: int, now: datetime
) -> ImpactReport:
    replayed, skipped, flips = 0, 0, []
    for event in _recent_decisions(session, limit):
        outcome = _replay(session, event, active, candidate, now)
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
        resource = agreement_resource(session, agreement, now)
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
    session: Session, event: AuditEvent, active: Policy, candidate: Policy, now: datetime
) -> ReplayedDecision | None:
    if event.action == RELEASE_EVENT:
        return _replay_release(session, event, active, candidate)
    actor = load_actor(session, event.actor_id)
    if actor is None:
        return None
    if event.outcome == "denied":
        permission, subject = event.action, _denied_subject(session, event, actor, now)
    else:
        permission, resolve = SUCCESSES[event.action]
        subject = resolve(session, event, actor, now)
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
    session: Session, event: AuditEvent, active: Policy, candidate: Policy
) -> ReplayedDecision | None:
    """The release rule at the instant of the release, on the agreement as it was pending."""
    agreement = session.get(Agreement, event.resource_id) if event.resource_id else None
    if agreement is None:
        return None
    resource = replace(agreement_resource(session, agreement, event.occurred_at), state="pending")
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


def _denied_subject(session: Session, event: AuditEvent, actor: Actor, now: datetime) -> object:
    """What a denied check was about, from the target the guard recorded."""
    if event.action in PLATFORM_PERMISSIONS:
        return PLATFORM
    if event.action == "create_dataset":
        return _org(session, actor.org_id)
    resolve = _BY_TYPE.get(event.resource_type)
    return resolve(session, event, actor, now) if resolve else None


def _org(session: Session, org_id: str | None) -> OrgResource | None:
    org = session.get(Organization, org_id) if org_id else None
    return org_resource(session, org) if org else None


def _event_org(session: Session, event: AuditEvent, _actor: Actor, _now: datetime) -> object:
    return _org(session, event.resource_id)


def _dataset(session: Session, event: AuditEvent, _actor: Actor, now: datetime) -> object | None:
    dataset = session.get(Dataset, event.resource_id) if event.resource_id else None
    return dataset_resource(session, dataset, now) if dataset else None


def _dataset_owner(session: Session, event: AuditEvent, _actor: Actor, _now: datetime) -> object:
    dataset = session.get(Dataset, event.resource_id) if event.resource_id else None
    return _org(session, dataset.owner_org_id if dataset else None)


def _agreement(session: Session, event: AuditEvent, _actor: Actor, now: datetime) -> object:
    agreement = session.get(Agreement, event.resource_id) if event.resource_id else None
    return agreement_resource(session, agreement, now) if agreement else None


def _agreement_dataset(session: Session, event: AuditEvent, _actor: Actor, now: datetime) -> object:
    agreement = session.get(Agreement, event.resource_id) if event.resource_id else None
    dataset = session.get(Dataset, agreement.dataset_id) if agreement else None
    return dataset_resource(session, dataset, now) if dataset else None


def _partnership(session: Session, event: AuditEvent, _actor: Actor, _now: datetime) -> object:
    partnership = session.get(Partnership, event.resource_id) if event.resource_id else None
    return partnership_resource(partnership) if partnership else None


def _principal_org(session: Session, event: AuditEvent, _actor: Actor, _now: datetime) -> object:
    principal = session.get(Principal, event.resource_id) if event.resource_id else None
    return _org(session, principal.org_id if principal else None)


def _key_org(session: Session, event: AuditEvent, _actor: Actor, _now: datetime) -> object:
    key = session.get(ApiKey, event.resource_id) if event.resource_id else None
    principal = session.get(Principal, key.principal_id) if key else None
    return _org(session, principal.org_id if principal else None)


def _audit_log(session: Session, event: AuditEvent, _actor: Actor, _now: datetime) -> object:
    if event.resource_id is None:
        return AuditLogResource()
    org = _org(session, event.resource_id)
    return AuditLogResource(org) if org is not None else None


def _platform(_s: Session, _e: AuditEvent, _a: Actor, _n: datetime) -> object:
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
