"""The audit trail's long-lived parts, and its schedules: checkpoints every N seconds, and in
every process the background integrator, which numbers what requests queued
(escrow.audit.integrator) within ``ESCROW_AUDIT_INTEGRATE_MS``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.orm import Session

from escrow.audit.checkpoints import CheckpointIssuer, SignedCheckpoint
from escrow.audit.export import ExportPlan, bundle_chunks
from escrow.audit.integrator import BATCH, integrate_queued
from escrow.schedule import every
from storage.db import Database


@dataclass(frozen=True)
class AuditTrail:
    """What outlives a request: the database the log lives in and the checkpoint signer."""

    db: Database
    checkpoints: CheckpointIssuer
    interval: int  # seconds between scheduled checkpoints; 0: none
    integrate_ms: int = 100  # milliseconds between the background integrator's runs; 0: none
    wait_seconds: int = 5  # how long catching up waits for another holder of the head

    def issue_checkpoint(self) -> SignedCheckpoint:
        """Signs the tree, with every event committed before the call, if it grew since the
        latest checkpoint (the schedule's tick)."""
        with self.db.session() as session:
            self.catch_up(session)
            return self.checkpoints.issue(session)

    def integrate_queued(self) -> int:
        """Numbers every queued event the head lets this process take now; how many (the
        background integrator's run)."""
        with self.db.session() as session:
            return self._drain(session, wait_seconds=None)

    def catch_up(self, session: Session) -> None:
        """Every event committed before this call is in the log when it returns, waiting for
        the head up to ``wait_seconds`` (then AuditUnavailableError): what reads of the log
        (events, proofs, checkpoints, exports) do first in their own session, so that a
        caller reads its own writes even when they were queued behind another integration.
        With nothing queued it costs one query and leaves the session's transaction open."""
        self._drain(session, wait_seconds=self.wait_seconds)

    def _drain(self, session: Session, wait_seconds: float | None) -> int:
        total = 0
        while numbered := integrate_queued(session, wait_seconds=wait_seconds):
            session.commit()
            total += numbered
            if numbered < BATCH:
                break
        return total

    def bundle(self, plan: ExportPlan) -> Iterator[bytes]:
        return bundle_chunks(self.db, plan)


checkpoint_schedule = every(
    "audit-checkpoints", lambda c: c.trail.interval, lambda c: c.trail.issue_checkpoint()
)
integration_schedule = every(
    "audit-integrator",
    # On SQLite (one writer at a time) every append numbers its event: nothing is queued.
    lambda c: 0 if c.db.engine.dialect.name == "sqlite" else c.trail.integrate_ms / 1000,
    lambda c: c.trail.integrate_queued(),
    per_process=True,  # the head row decides who integrates; any process may
)
