"""Policy use cases: upload, list, impact, activate and roll back bundles; explain decisions;
each returns its result (escrow/policy/results.py)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from escrow.audit.log import AuditRecord
from escrow.audit.trail import AuditTrail
from escrow.context import Actor
from escrow.errors import (
    ConflictError,
    EscrowError,
    InvalidStateError,
    NotFoundError,
    ValidationError,
)
from escrow.guard import Decision, Target
from escrow.paging import Page, decode_cursor, paginate
from escrow.policy.engine import PolicyBundle, PolicyEngine
from escrow.policy.facts import PolicyFacts
from escrow.policy.replay import impact, load_actor
from escrow.policy.resources import PLATFORM, AgreementResource
from escrow.policy.results import BundleImpact, Explained, StoredBundle, bundle_of
from escrow.policy.store import PolicyStore, active_bundle
from escrow.policy.validation import validated_engine
from escrow.service import Service, ServiceDeps
from storage.models import Agreement, Dataset, Organization, Partnership, PolicyBundleRow


class PolicyService(Service):
    """Operators only ("manage_policies" on the Platform); every change is audited."""

    def __init__(
        self,
        deps: ServiceDeps,
        store: PolicyStore,
        facts: PolicyFacts,
        validation_seconds: float,
        trail: AuditTrail,
    ) -> None:
        super().__init__(deps)
        self.store = store
        self.facts = facts
        self.validation_seconds = validation_seconds  # a candidate's load and tests, at most
        self.trail = trail  # impact replays integrated decisions

    def upload(self, files: Mapping[str, str], tests: Mapping[str, str]) -> StoredBundle:
        """Stores a candidate that loads and passes the repository's and its own tests."""
        decision = self._authorize(None)
        bundle = PolicyBundle(dict(files), dict(tests))
        existing = self.session.scalar(
            select(PolicyBundleRow).where(PolicyBundleRow.sha256 == bundle.sha256)
        )
        if existing is not None:
            raise ConflictError(
                f"this bundle is already stored as {existing.id} ({existing.state})",
                bundle_id=existing.id,
            )
        self._validated(bundle, decision, None)
        row = PolicyBundleRow(
            id=self.deps.new_id(),
            sha256=bundle.sha256,
            files=dict(bundle.files),
            tests=dict(bundle.tests),
            author_id=self.ctx.principal.id,
            state="candidate",
            created_at=self.deps.clock.now(),
        )
        self.session.add(row)
        try:
            self.session.flush()
        except IntegrityError:
            self.session.rollback()
            raise ConflictError("the same bundle was stored concurrently") from None
        self._record("policy.upload", row, decision, files=len(files), tests=len(tests))
        return bundle_of(row)

    def list_bundles(self, cursor: str | None, limit: int) -> Page:
        """A page of ``StoredBundle``s, newest first."""
        self._authorize(None)
        query = select(PolicyBundleRow).order_by(PolicyBundleRow.id.desc()).limit(limit + 1)
        if before := decode_cursor(cursor):
            query = query.where(PolicyBundleRow.id < before)
        page = paginate(list(self.session.scalars(query)), limit)
        return Page([bundle_of(row) for row in page.items], page.next_cursor)

    def get(self, bundle_id: str) -> StoredBundle:
        self._authorize(bundle_id)
        return bundle_of(self._load(bundle_id))

    def active(self) -> StoredBundle:
        self._authorize(None)
        row = active_bundle(self.session)
        if row is None:  # only if this process could not seed at start: do it now
            self.session.rollback()
            self.store.seed_if_empty()
            row = active_bundle(self.session)
        if row is None:  # pragma: no cover - seeding commits one
            raise NotFoundError("no policy bundle is active")
        return bundle_of(row)

    def impact(self, bundle_id: str, limit: int) -> BundleImpact:
        """Replays recent audited decisions and open releases under the candidate."""
        decision = self._authorize(bundle_id)
        row = self._load(bundle_id)
        candidate = PolicyEngine(PolicyBundle(dict(row.files), dict(row.tests)))
        active = self.store.engine
        now = self.deps.clock.now()
        self.trail.catch_up(self.session)  # the latest decisions included
        report = impact(self.session, self.facts, active, candidate, limit, now)
        self._record(
            "policy.impact",
            row,
            decision,
            replayed=report.replayed,
            flips=len(report.flips),
            releases=len(report.releases),
        )
        return BundleImpact(row.sha256, active.version, report)

    def activate(self, bundle_id: str) -> StoredBundle:
        """Makes a candidate (or, to roll back, a retired bundle) the one every process serves.

        Fails closed: the bundle is validated again against the repository's tests as they
        are now; the previous active bundle is retired in the same transaction.
        """
        decision = self._authorize(bundle_id)
        row = self._load(bundle_id)
        if row.state == "active":
            raise InvalidStateError(f"policy bundle {row.id} is already active")
        engine = self._validated(PolicyBundle(dict(row.files), dict(row.tests)), decision, row)
        previous = self.session.scalar(
            select(PolicyBundleRow).where(PolicyBundleRow.state == "active").with_for_update()
        )
        if previous is not None:
            previous.state = "retired"
            self.session.flush()  # the one-active index sees the retirement first
        row.state, row.activated_at = "active", self.deps.clock.now()
        try:
            self.session.flush()
        except IntegrityError:
            self.session.rollback()
            raise ConflictError("another bundle was activated concurrently; retry") from None
        self._record(
            "policy.activate", row, decision, previous=previous.sha256 if previous else None
        )
        self.store.install(engine)
        return bundle_of(row)

    # ------------------------------------------------------------------ internals

    def _authorize(self, bundle_id: str | None) -> Decision:
        return self.guard.require(
            self.session, self.ctx, "manage_policies", PLATFORM, Target("policy_bundle", bundle_id)
        )

    def _load(self, bundle_id: str) -> PolicyBundleRow:
        row = self.session.get(PolicyBundleRow, bundle_id)
        if row is None:
            raise NotFoundError(f"no policy bundle {bundle_id!r}")
        return row

    def _validated(
        self, bundle: PolicyBundle, decision: Decision, row: PolicyBundleRow | None
    ) -> PolicyEngine:
        """A rejected bundle is audited (outcome failed) before the 413/422 goes out."""
        try:
            tests = self.store.seed.bundle.tests
            return validated_engine(bundle, tests, self.validation_seconds)
        except EscrowError as exc:
            self.session.rollback()
            action = "policy.activate" if row else "policy.upload"
            reason = "tests_failed" if "failures" in exc.extra else "invalid_bundle"
            self.commit_with_event(
                AuditRecord(
                    action,
                    "failed",
                    "policy_bundle",
                    row.id if row else None,
                    reason=reason,
                    details={"sha256": bundle.sha256},
                    policy_version=decision.policy_version,
                )
            )
            raise

    def _record(
        self, action: str, row: PolicyBundleRow, decision: Decision, **details: object
    ) -> None:
        self.commit_with_event(
            AuditRecord(
                action,
                "success",
                "policy_bundle",
                row.id,
                details={"sha256": row.sha256, **details},
                policy_version=decision.policy_version,
            )
        )


class ExplainService(Service):
    """Explains the policy's decision for an actor: one's own, or as an admin of the actor's
    organization, or as an operator (anyone else: 403). The resource must be one the caller
    may read (operators: any), else 404, so that explaining discloses nothing new."""

    def __init__(self, deps: ServiceDeps, store: PolicyStore, facts: PolicyFacts) -> None:
        super().__init__(deps)
        self.store = store
        self.facts = facts

    def explain(self, actor_id: str | None, action: str, kind: str, resource_id: str) -> Explained:
        caller = self.ctx.principal
        subject = caller if actor_id in (None, caller.id) else self._subject(str(actor_id))
        resource, target = self._resource(kind, resource_id)
        if resource is None:
            self.guard.deny_missing(self.session, self.ctx, "read", target)
        # A beneficiary may ask about a dataset it holds (or held) an agreement for, released
        # or not: the agreement already names the dataset. Anyone else who cannot read it: 404.
        beneficiary = kind == "dataset" and self._is_beneficiary(target, caller.org_id)
        if not (beneficiary or self.guard.allows(self.ctx, "explain", PLATFORM)):
            self.guard.require(self.session, self.ctx, "read", resource, target, conceal=True)
        policy = self.store
        explanation = policy.explain(subject, action, resource)
        blockers, agreements = None, None
        if isinstance(resource, AgreementResource):
            blockers = policy.release(resource).blockers
        if kind == "dataset" and not explanation.allowed:
            dataset_id = str(target.resource_id)
            statuses = self.facts.agreement_statuses(self.deps, dataset_id, subject.org_id)
            agreements = tuple(statuses)
        self.commit_with_event(
            AuditRecord(
                "authz.explain",
                "success",
                target.resource_type,
                target.resource_id,
                org_ids=tuple({subject.org_id, *target.org_ids}),
                details={"actor": subject.id, "action": action, "allowed": explanation.allowed},
                policy_version=explanation.policy_version,
            )
        )
        return Explained(subject, explanation, blockers, agreements)

    def _is_beneficiary(self, target: Target, org_id: str) -> bool:
        found = self.session.scalar(
            select(Agreement.id).where(
                Agreement.dataset_id == target.resource_id, Agreement.beneficiary_org_id == org_id
            )
        )
        return found is not None

    def _subject(self, principal_id: str) -> Actor:
        actor = load_actor(self.session, principal_id)
        org = self.session.get(Organization, actor.org_id) if actor else None
        if actor is None or org is None:
            # Existence is disclosed only to those who may explain for anyone.
            self.guard.require(
                self.session, self.ctx, "explain", PLATFORM, Target("principal", principal_id)
            )
            raise NotFoundError(f"no principal {principal_id!r}")
        resource = self.facts.organization(self.session, org)
        # Scoped to the principal's organization only for callers who may see that org:
        # otherwise the denial would name it in the caller's own trail.
        seen = (org.id,) if self.guard.allows(self.ctx, "read", resource) else ()
        self.guard.require(
            self.session, self.ctx, "explain", resource, Target("principal", actor.id, seen)
        )
        return actor

    def _resource(self, kind: str, resource_id: str) -> tuple[object | None, Target]:
        """The resource and how denials name it; None when it does not exist (the caller
        is then denied exactly as for one it may not see)."""
        now, facts = self.deps.clock.now(), self.facts
        missing = Target(kind, resource_id)
        if kind == "organization":
            org = self.session.scalar(
                select(Organization).where(
                    (Organization.slug == resource_id) | (Organization.id == resource_id)
                )
            )
            if org is None:
                return None, missing
            target = Target("organization", org.id, (org.id,), named=resource_id)
            return facts.organization(self.session, org), target
        if kind == "dataset":
            dataset = self.session.get(Dataset, resource_id)
            if dataset is None:
                return None, missing
            return (
                facts.dataset(self.session, dataset, now),
                Target("dataset", dataset.id, (dataset.owner_org_id,)),
            )
        if kind == "agreement":
            agreement = self.session.get(Agreement, resource_id)
            if agreement is None:
                return None, missing
            parties = (agreement.owner_org_id, agreement.beneficiary_org_id)
            return (
                facts.agreement(self.session, agreement, now),
                Target("agreement", agreement.id, parties),
            )
        if kind == "partnership":
            partnership = self.session.get(Partnership, resource_id)
            if partnership is None:
                return None, missing
            parties = (partnership.org_a_id, partnership.org_b_id)
            return (
                facts.partnership(partnership, self.session),
                Target("partnership", partnership.id, parties),
            )
        raise ValidationError(f"cannot explain decisions on a {kind!r}", field="resource.type")
