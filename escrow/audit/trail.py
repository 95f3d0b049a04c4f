"""The audit trail's long-lived parts, and the schedule that checkpoints it every N seconds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from escrow.audit.checkpoints import CheckpointIssuer, SignedCheckpoint
from escrow.audit.export import ExportPlan, bundle_chunks
from escrow.schedule import every
from storage.db import Database


@dataclass(frozen=True)
class AuditTrail:
    """What outlives a request: the database the log lives in and the checkpoint signer."""

    db: Database
    checkpoints: CheckpointIssuer
    interval: int  # seconds between scheduled checkpoints; 0: none

    def issue_checkpoint(self) -> SignedCheckpoint:
        """Signs the committed tree if it grew since the latest checkpoint (the schedule's tick)."""
        with self.db.session() as session:
            return self.checkpoints.issue(session)

    def bundle(self, plan: ExportPlan) -> Iterator[bytes]:
        return bundle_chunks(self.db, plan)


checkpoint_schedule = every(
    "audit-checkpoints", lambda c: c.trail.interval, lambda c: c.trail.issue_checkpoint()
)
