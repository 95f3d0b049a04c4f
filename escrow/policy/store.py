"""The policy every process serves: the database's active bundle, reloaded when it changes.

The ``policy_bundles`` table holds every version; exactly one is ``active`` (a partial
unique index). Each process keeps the engine of the version it last saw and checks the
active SHA-256 every ``ESCROW_POLICY_RELOAD_SECONDS`` (one indexed single-row read), so an
activation reaches every replica within that time; the process that activates installs
the new engine at once. On first start, when no bundle is active yet, the deployment's
``ESCROW_POLICIES_DIR`` bundle becomes the first active version (audited).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from escrow.audit.log import AuditLog, AuditRecord
from escrow.clock import Clock
from escrow.context import Actor, RequestContext
from escrow.guard import Decision
from escrow.ids import IdFactory
from escrow.policy.engine import (
    PolicyBundle,
    PolicyEngine,
    PolicyLoadError,
    ReleaseDecision,
)
from escrow.policy.explain import Explanation
from escrow.policy.resources import AgreementResource, PopulationShare
from escrow.schedule import every
from storage.db import Database
from storage.models import PolicyBundleRow

log = logging.getLogger("escrow.policy")


def active_bundle(session: Session) -> PolicyBundleRow | None:
    return session.scalar(select(PolicyBundleRow).where(PolicyBundleRow.state == "active"))


def engine_for(row: PolicyBundleRow) -> PolicyEngine:
    """Fails closed: a stored bundle whose content no longer matches its SHA-256 is refused."""
    engine = PolicyEngine(PolicyBundle(dict(row.files), dict(row.tests)))
    if engine.version != row.sha256:
        raise PolicyLoadError(f"policy bundle {row.id}: content does not match its SHA-256")
    return engine


class PolicyStore:
    """Serves ``decide``/``release``/``explain`` from the current engine; thread-safe."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        new_id: IdFactory,
        seed_dir: Path,
        reload_seconds: int,
    ) -> None:
        self.db = db
        self.audit = audit
        self.clock = clock
        self.new_id = new_id
        self.reload_seconds = reload_seconds
        # The deployment's bundle: the first version, and the repository's policy tests
        # that every candidate must pass. Loaded now so that a broken one stops the start.
        self.seed = PolicyEngine(PolicyBundle.from_directory(seed_dir))
        self._engine: PolicyEngine | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ deciding

    @property
    def engine(self) -> PolicyEngine:
        """The engine in service; loaded from the database on first use if start() did not."""
        engine = self._engine
        if engine is None:
            self.refresh()  # raises while the database cannot be read: decisions fail closed
            engine = self._engine
        if engine is None:  # pragma: no cover - refresh installs one or raises
            raise RuntimeError("no policy loaded")
        return engine

    @property
    def version(self) -> str:
        return self.engine.version

    def decide(self, actor: Actor, action: str, resource: object) -> Decision:
        return self.engine.decide(actor, action, resource)

    def release(self, agreement: AgreementResource) -> ReleaseDecision:
        return self.engine.release(agreement)

    def overlap_ceiling(self, share: PopulationShare) -> str:
        return self.engine.overlap_ceiling(share)

    def explain(self, actor: Actor, action: str, resource: object) -> Explanation:
        return self.engine.explain(actor, action, resource)

    # ------------------------------------------------------------------ loading

    def start(self) -> None:
        """Process start: seed the first version if there is none, then load the active one.

        A failure is logged, not raised, so that the process starts; decisions then load the
        policy on first use, and fail (503) while the database cannot be read.
        """
        try:
            self.seed_if_empty()
            self.refresh()
        except Exception:  # the next refresh (or first decision) retries; nothing is served stale
            log.exception("loading the active policy failed")

    def refresh(self) -> bool:
        """The cheap check: reload when the active version differs from the one served.

        Returns whether a new engine was installed. Until a version is active, the
        deployment's bundle is served (it is the one seeding will make active).
        """
        served = self._engine
        with self.db.session() as session:
            active = session.execute(
                select(PolicyBundleRow.id, PolicyBundleRow.sha256).where(
                    PolicyBundleRow.state == "active"
                )
            ).first()
            if active is None:
                return self._swap(served, self.seed) if served is None else False
            if served is not None and served.version == active.sha256:
                return False
            if active.sha256 == self.seed.version:
                engine = self.seed
            else:
                row = session.get(PolicyBundleRow, active.id)
                if row is None:  # pragma: no cover - deleted under us: the next check sees
                    return False
                engine = engine_for(row)
        return self._swap(served, engine)

    def install(self, engine: PolicyEngine) -> None:
        """Serve ``engine`` now (the activating process does not wait for its next check)."""
        with self._lock:
            self._engine = engine
        log.info("policy %s in service", engine.version)

    def _swap(self, expected: PolicyEngine | None, engine: PolicyEngine) -> bool:
        """Compare-and-swap, so a slow check never replaces a newer install()."""
        with self._lock:
            if self._engine is not expected:
                return False
            self._engine = engine
        log.info("policy %s in service", engine.version)
        return True

    def seed_if_empty(self) -> None:
        """First start: the deployment's bundle becomes the first active version, audited."""
        bundle = self.seed.bundle
        with self.db.session() as session:
            if active_bundle(session) is not None:
                return
            now = self.clock.now()
            row = session.scalar(
                select(PolicyBundleRow).where(PolicyBundleRow.sha256 == self.seed.version)
            )
            if row is None:
                row = PolicyBundleRow(
                    id=self.new_id(),
                    sha256=self.seed.version,
                    files=dict(bundle.files),
                    tests=dict(bundle.tests),
                    author_id=None,
                    state="active",
                    created_at=now,
                )
                session.add(row)
            row.state, row.activated_at = "active", now
            try:
                session.flush()
            except IntegrityError:  # another process seeded first: theirs is the same bundle
                session.rollback()
                return
            self.audit.append(
                session,
                RequestContext(request_id="policy-seed"),
                AuditRecord(
                    "policy.activate",
                    "success",
                    "policy_bundle",
                    row.id,
                    details={"sha256": row.sha256, "source": "policies_dir"},
                    policy_version=row.sha256,
                ),
            )
            session.commit()


# App lifespan: load the active policy before serving, then check for a newly activated one
# every reload_seconds (0: only at start and in the process that activates).
policy_reload_schedule = every(
    "policy-reload",
    lambda components: components.policy.reload_seconds,
    lambda components: components.policy.refresh(),
    on_start=lambda components: components.policy.start(),
    per_process=True,  # each process serves its own engine
)
