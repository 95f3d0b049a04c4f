"""What every use-case service is built from: a unit of work (a session and the acting
context) and the collaborators all use cases share, made once in app.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from sqlalchemy import ColumnElement
from sqlalchemy.orm import InstrumentedAttribute, Session

from escrow.audit.log import AuditLog, AuditRecord
from escrow.clock import Clock
from escrow.context import RequestContext
from escrow.guard import Guard
from escrow.ids import IdFactory
from storage.db import Database


class AccessRefresh(Protocol):
    """Brings an organization's agreements for a dataset up to date before it accesses the
    dataset (the agreements' lifecycle provides it; datasets call it without importing it)."""

    def refresh_for_dataset(
        self, session: Session, ctx: RequestContext, dataset_id: str, org_id: str
    ) -> bool: ...

    def refresh_due(
        self,
        dataset_id: InstrumentedAttribute[str],
        org_id: str | ColumnElement[str],
        now: datetime | ColumnElement[datetime],
    ) -> ColumnElement[bool]:
        """Whether ``refresh_for_dataset`` would find anything at ``now`` (a clause a
        dataset's own query can carry, so an access with nothing due costs no query). It
        depends on its arguments alone, so a query may be built once with bind parameters."""
        ...


@dataclass(frozen=True, slots=True)
class ServiceDeps:
    """One unit of work: its session, who acts, and the shared collaborators."""

    session: Session
    ctx: RequestContext
    guard: Guard
    audit: AuditLog
    clock: Clock
    new_id: IdFactory
    access: AccessRefresh

    def acting(self, ctx: RequestContext) -> ServiceDeps:
        """The same unit of work, acting for someone else (a sharing recipient, say)."""
        return replace(self, ctx=ctx)


@dataclass(frozen=True, slots=True)
class Collaborators:
    """What every use case shares, for the whole process: ``bind`` a session to use them."""

    db: Database
    guard: Guard
    audit: AuditLog
    clock: Clock
    new_id: IdFactory
    access: AccessRefresh

    def bind(self, session: Session, ctx: RequestContext) -> ServiceDeps:
        return ServiceDeps(
            session, ctx, self.guard, self.audit, self.clock, self.new_id, self.access
        )

    @contextmanager
    def unit_of_work(self, ctx: RequestContext) -> Iterator[ServiceDeps]:
        """A new session, closed on exit, for work outside a request's own session (a
        streamed body's thread, a job)."""
        with self.db.session() as session:
            yield self.bind(session, ctx)


class Service:
    def __init__(self, deps: ServiceDeps) -> None:
        self.deps = deps
        self.session = deps.session
        self.ctx = deps.ctx
        self.guard = deps.guard

    def commit_with_event(self, record: AuditRecord) -> int | None:
        """Append the success event last and commit: the change and its event land together.
        Returns the event's index if it was numbered in this transaction (AuditLog.append)."""
        seq = self.deps.audit.append(self.session, self.ctx, record, last=True)
        self.session.commit()
        return seq
