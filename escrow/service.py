"""What every use-case service is built from, wired per request in app.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from escrow.audit.log import AuditLog, AuditRecord
from escrow.clock import Clock
from escrow.context import RequestContext
from escrow.ids import IdFactory
from escrow.policy.guard import Guard


@dataclass
class ServiceDeps:
    """A request's session and context, and the long-lived components (see wiring.py)."""

    session: Session
    ctx: RequestContext
    # escrow.components.Components; typed Any because that module imports this one and litestar
    # resolves dependency annotations at run time.
    components: Any

    @property
    def guard(self) -> Guard:
        guard: Guard = self.components.guard
        return guard

    @property
    def audit(self) -> AuditLog:
        audit: AuditLog = self.components.audit
        return audit

    @property
    def clock(self) -> Clock:
        clock: Clock = self.components.clock
        return clock

    @property
    def new_id(self) -> IdFactory:
        new_id: IdFactory = self.components.new_id
        return new_id


class Service:
    def __init__(self, deps: ServiceDeps) -> None:
        self.deps = deps
        self.session = deps.session
        self.ctx = deps.ctx
        self.guard = deps.guard

    def commit_with_event(self, record: AuditRecord) -> int | None:
        """Append the success event last and commit: the change and its event land together.
        Returns the event's index if it was numbered in this transaction (AuditLog.append)."""
        seq = self.deps.audit.append(self.session, self.ctx, record)
        self.session.commit()
        return seq
