"""Policy administration and explain bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from escrow.policy.facts import AgreementStatus
from escrow.policy.replay import ReleaseChange, ReplayedDecision
from escrow.policy.results import BundleImpact, Explained, StoredBundle
from escrow.schemas import Input

DEFAULT_IMPACT_LIMIT = 100
MAX_IMPACT_LIMIT = 1000
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class BundleIn(Input):
    files: dict[str, str]  # relative path -> Polar text; main.polar required
    tests: dict[str, str] = msgspec.field(default_factory=dict)  # name.yaml -> YAML text


class ImpactIn(Input):
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_IMPACT_LIMIT)] = DEFAULT_IMPACT_LIMIT


class _BundleMetadata(msgspec.Struct):
    id: str
    sha256: str
    state: str
    author: str | None  # principal id; null for the bundle seeded from ESCROW_POLICIES_DIR
    created_at: datetime
    activated_at: datetime | None


def _metadata(bundle: StoredBundle) -> dict[str, Any]:
    return {
        "id": bundle.id,
        "sha256": bundle.sha256,
        "state": bundle.state,
        "author": bundle.author_id,
        "created_at": bundle.created_at,
        "activated_at": bundle.activated_at,
    }


class BundleSummaryOut(_BundleMetadata):
    files: list[str]
    tests: list[str]

    @classmethod
    def of(cls, bundle: StoredBundle) -> BundleSummaryOut:
        return cls(**_metadata(bundle), files=sorted(bundle.files), tests=sorted(bundle.tests))


class BundleOut(_BundleMetadata):
    files: dict[str, str]
    tests: dict[str, str]

    @classmethod
    def of(cls, bundle: StoredBundle) -> BundleOut:
        return cls(**_metadata(bundle), files=bundle.files, tests=bundle.tests)


class DecisionFlipOut(msgspec.Struct):
    seq: int
    occurred_at: datetime
    actor: str | None
    event: str
    action: str
    resource: dict[str, str | None]
    recorded: str
    active: str
    candidate: str

    @classmethod
    def of(cls, flip: ReplayedDecision) -> DecisionFlipOut:
        return cls(
            seq=flip.seq,
            occurred_at=flip.occurred_at,
            actor=flip.actor_id,
            event=flip.event,
            action=flip.action,
            resource={"type": flip.resource_type, "id": flip.resource_id},
            recorded=flip.recorded,
            active=flip.active,
            candidate=flip.candidate,
        )


class ReleaseChangeOut(msgspec.Struct):
    agreement_id: str
    dataset_id: str
    owner_org_id: str
    beneficiary_org_id: str
    active: Literal["released", "blocked"]
    candidate: Literal["released", "blocked"]
    active_blockers: list[str]
    candidate_blockers: list[str]

    @classmethod
    def of(cls, change: ReleaseChange) -> ReleaseChangeOut:
        return cls(
            agreement_id=change.agreement_id,
            dataset_id=change.dataset_id,
            owner_org_id=change.owner_org_id,
            beneficiary_org_id=change.beneficiary_org_id,
            active="blocked" if change.active_blockers else "released",
            candidate="blocked" if change.candidate_blockers else "released",
            active_blockers=list(change.active_blockers),
            candidate_blockers=list(change.candidate_blockers),
        )


class ImpactOut(msgspec.Struct):
    candidate: str  # sha256
    active: str  # sha256
    replayed: int  # audited decisions decided again
    skipped: int  # whose actor or resource no longer exists
    flips: list[DecisionFlipOut]
    pending_checked: int
    releases: list[ReleaseChangeOut]

    @classmethod
    def of(cls, impact: BundleImpact) -> ImpactOut:
        report = impact.report
        return cls(
            candidate=impact.candidate,
            active=impact.active,
            replayed=report.replayed,
            skipped=report.skipped,
            flips=[DecisionFlipOut.of(f) for f in report.flips],
            pending_checked=report.pending_checked,
            releases=[ReleaseChangeOut.of(r) for r in report.releases],
        )


class ResourceRef(Input):
    type: Literal["organization", "dataset", "agreement", "partnership"]
    id: Identifier  # an organization's slug (or id); the others' ids


class ExplainIn(Input):
    action: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z_]{0,63}$")]
    resource: ResourceRef
    actor: Identifier | None = None  # a principal id; default: the caller


class ExplainOut(msgspec.Struct):
    actor: str
    action: str
    resource: dict[str, str]
    allowed: bool
    policy_version: str
    rule: str | None
    path: list[str]
    actor_roles: list[str]
    roles_on_resource: list[str]
    release_blockers: list[str] | None = None  # agreements only
    # A denial: each rule that would grant the action and the role or condition it lacked.
    would_grant: list[WouldGrantOut] = msgspec.field(default_factory=list)
    # A denied action on a dataset: the actor's organization's agreements for it.
    agreements: list[AgreementStatusOut] | None = None

    @classmethod
    def of(cls, resource: ResourceRef, action: str, explained: Explained) -> ExplainOut:
        explanation, blockers = explained.explanation, explained.release_blockers
        statuses = explained.agreements
        return cls(
            actor=explained.actor.id,
            action=action,
            resource={"type": resource.type, "id": resource.id},
            allowed=explanation.allowed,
            policy_version=explanation.policy_version,
            rule=explanation.rule,
            path=list(explanation.path),
            actor_roles=list(explanation.actor_roles),
            roles_on_resource=list(explanation.roles_on_resource),
            release_blockers=None if blockers is None else list(blockers),
            would_grant=[WouldGrantOut(g.rule, g.unmet) for g in explanation.would_grant],
            agreements=None if statuses is None else [AgreementStatusOut.of(a) for a in statuses],
        )


class WouldGrantOut(msgspec.Struct):
    rule: str  # as written, with its file and line
    unmet: str  # the role it needs, or the first of its conditions that does not hold


class AgreementStatusOut(msgspec.Struct):
    """What the beneficiary can read of the agreement anyway (GET /v1/agreements/{id})."""

    id: str
    state: str
    blockers: list[str] | None
    not_before: datetime | None
    expires_at: datetime | None
    released_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    objection_window_ends_at: datetime | None

    @classmethod
    def of(cls, status: AgreementStatus) -> AgreementStatusOut:
        return cls(
            id=status.id,
            state=status.state,
            blockers=None if status.blockers is None else list(status.blockers),
            not_before=status.not_before,
            expires_at=status.expires_at,
            released_at=status.released_at,
            ended_at=status.ended_at,
            end_reason=status.end_reason,
            objection_window_ends_at=status.objection_window_ends_at,
        )
