"""Integration: numbering recorded events, extending the Merkle tree, moving the head.

Tessera's sequence-then-integrate, done by whichever transaction holds the log's head row
(escrow.audit.head): the background integrator that drains the queue, a request that must
return an index and waits for it, a read of the log catching up, or, on SQLite, every
request.
The holder takes the oldest queued events (committed ones, and its own), gives them and its
own event consecutive numbers, and writes events, tree nodes and the new head in one
statement. Its transaction commits the batch with its own change or rolls all of it back,
so a holder that dies mid-batch leaves the queue as it was for the next one: no gap, no
duplicate, and nothing to hand over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from crypto import CompactRange, leaf_hash
from escrow.audit.head import Batch, queue_events, take_head, write_batch
from storage.models import AuditQueueEntry

BATCH = 1000  # queued events one transaction numbers at most
_COLUMNS = (
    "occurred_at",
    "request_id",
    "actor_id",
    "actor_org_id",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "reason",
    "policy_version",
)


class Recorded(TypedDict):
    """An event as recorded, before its number: an ``audit_queue`` row's columns."""

    occurred_at: datetime
    request_id: str
    actor_id: str | None
    actor_org_id: str | None
    action: str
    resource_type: str
    resource_id: str | None
    outcome: str
    reason: str | None
    policy_version: str | None
    entry_head: str
    entry_tail: str
    orgs: list[str]
    secrets: list[list[str]]  # [name, keyed digest, plaintext]


def record_event(session: Session, event: Recorded, *, wait_seconds: float | None) -> int | None:
    """Numbers ``event`` in this transaction, with the queued events before it, if it must
    return its index (waiting up to ``wait_seconds`` for the head) or the log is on SQLite;
    else queues it. Returns its sequence number, or None when queued."""
    return record_events(session, [event], wait_seconds=wait_seconds)[0]


def record_events(
    session: Session, events: Sequence[Recorded], *, wait_seconds: float | None, alone: bool = False
) -> list[int | None]:
    """``record_event`` for events one transaction records together, in their order: the head
    is asked for once, and they are numbered, or queued, in one statement.

    On PostgreSQL an event that need not return its index is only queued (DESIGN section 5:
    a plain insert, no lock), whether or not the head is free: the background integrator
    numbers it within ``ESCROW_AUDIT_INTEGRATE_MS``, and reads of the log catch up first.
    SQLite has one writer at a time, so there the head is always free and taken.
    ``alone``: queued events end the transaction (``storage.db.raw_execute``)."""
    queue_only = wait_seconds is None and session.get_bind().dialect.name == "postgresql"
    head = None if queue_only else take_head(session, wait_seconds=wait_seconds, limit=BATCH)
    if head is None:
        queue_events(session, events, alone=alone)
        return [None] * len(events)
    tree, backlog = head
    return list(_integrate(session, tree, [*backlog, *events])[len(backlog) :])


def integrate_queued(
    session: Session, limit: int = BATCH, *, wait_seconds: float | None = None
) -> int:
    """Numbers up to ``limit`` queued events if the head is free (or freed within
    ``wait_seconds``); how many it numbered."""
    if not session.scalar(select(exists().where(AuditQueueEntry.id.is_not(None)))):
        return 0  # nothing queued: the head is not even touched
    head = take_head(session, wait_seconds=wait_seconds, limit=limit)
    if head is None:
        return 0
    tree, backlog = head
    if backlog:
        _integrate(session, tree, backlog)
    return len(backlog)


def numbered_entry(head: str, seq: int, tail: str) -> str:
    """An entry's canonical JSON once numbered (see escrow.audit.log._EntryTemplate)."""
    return head + str(seq) + tail


def _integrate(
    session: Session, tree: CompactRange, events: Sequence[Mapping[str, Any]]
) -> list[int]:
    batch = Batch()
    numbers: list[int] = []
    for event in events:
        seq = tree.size
        leaf = numbered_entry(event["entry_head"], seq, event["entry_tail"])
        batch.nodes.extend(tree.append(leaf_hash(leaf.encode("utf-8"))))
        batch.events.append({**{c: event[c] for c in _COLUMNS}, "seq": seq, "entry": leaf})
        batch.orgs.extend((seq, org) for org in event["orgs"])
        batch.secrets.extend((seq, name, digest, value) for name, digest, value in event["secrets"])
        if (queued := event.get("id")) is not None:
            batch.queued.append(queued)
        numbers.append(seq)
    write_batch(session, batch, tree)
    return numbers
