"""Counting audit appends once they are durable: an AuditLog listener plus commit hooks.

The listener runs inside the appending transaction, which may still roll back (a deposit
that loses an idempotency race, a failed commit). So it only notes the outcome on the
session; the count moves when that session commits and is dropped when the transaction ends
any other way. The Prometheus counter then agrees with the log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from escrow.audit.log import AuditLog, AuditRecord, writes_nothing
from escrow.context import RequestContext
from escrow.instruments import AUDIT_APPENDS

_PENDING = "escrow.metrics.audit_appends"


def count_audit_appends(audit: AuditLog) -> None:
    """Wire the counter to ``audit``; the session hooks are installed once per process."""
    audit.add_listener(_note_append, writes=writes_nothing)  # notes on the session only
    if not event.contains(Session, "after_commit", _count_committed):
        event.listen(Session, "after_commit", _count_committed)
        event.listen(Session, "after_transaction_end", _forget_uncommitted)


def _note_append(
    session: Session, _ctx: RequestContext, record: AuditRecord, _seq: int | None
) -> None:
    session.info.setdefault(_PENDING, []).append(record.outcome)


def _count_committed(session: Session) -> None:
    for outcome in session.info.pop(_PENDING, ()):
        AUDIT_APPENDS.labels(outcome).inc()


def _forget_uncommitted(session: Session, transaction: SessionTransaction, *_: Any) -> None:
    # after_commit has already counted (and removed) what a commit made durable; when the
    # outermost transaction ends without one, its appends were rolled back.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
