"""The log's head row: who holds it, the compact range appends extend, and a batch's writes.

Holding the head row (``SELECT ... FOR UPDATE``) is what makes a transaction the log's
integrator until it commits: only the holder gives out sequence numbers. A transaction that
merely records an event never asks for it on PostgreSQL (it queues its events, in one
statement), the background integrator takes it only if free (``SKIP LOCKED``), and a
transaction that must return an index waits for it, for a bounded time. Everything the
holder writes for a batch goes out in one statement on PostgreSQL (events, organizations,
sensitive plaintexts, tree nodes, the queue rows it consumed, the new head). SQLite
serializes writers for the whole transaction anyway (BEGIN IMMEDIATE), so there it uses
plain statements.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from crypto import CompactRange, NodeId
from escrow.audit.tree import AuditIntegrityError
from escrow.errors import UnavailableError
from storage.db import raw_execute
from storage.models import (
    AuditEvent,
    AuditEventOrg,
    AuditHead,
    AuditNode,
    AuditQueueEntry,
    AuditSecret,
)

_HASH = 32
DEFAULT_INDEX_WAIT_SECONDS = 5.0  # how long an append that needs its index waits for the head
_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout expired

# Data-modifying CTEs: one round trip. Rows travel as JSON documents (escaped in C, where
# text arrays would be escaped element by element in Python). Foreign keys to audit_events
# are checked at the end of the statement, after the event rows are there.
_BATCH_PG = """
    WITH events AS (
        INSERT INTO audit_events (
            seq, occurred_at, request_id, actor_id, actor_org_id, action, resource_type,
            resource_id, outcome, reason, policy_version, entry
        )
        SELECT * FROM json_to_recordset(CAST(%(events)s AS json)) AS e(
            seq bigint, occurred_at timestamptz, request_id varchar, actor_id varchar,
            actor_org_id varchar, action varchar, resource_type varchar, resource_id varchar,
            outcome varchar, reason varchar, policy_version varchar, entry text
        )
    ), orgs AS (
        INSERT INTO audit_event_orgs (seq, org_id)
        SELECT * FROM json_to_recordset(CAST(%(orgs)s AS json)) AS o(seq bigint, org_id varchar)
    ), secrets AS (
        INSERT INTO audit_secrets (seq, name, digest, value)
        SELECT * FROM json_to_recordset(CAST(%(secrets)s AS json))
            AS s(seq bigint, name varchar, digest varchar, value text)
    ), nodes AS (
        INSERT INTO audit_nodes (level, idx, hash)
        SELECT level, idx, decode(hash, 'hex')
        FROM json_to_recordset(CAST(%(nodes)s AS json)) AS n(level smallint, idx bigint, hash text)
    ), consumed AS (
        DELETE FROM audit_queue WHERE id = ANY(CAST(%(queued)s AS bigint[]))
    )
    UPDATE audit_head SET size = %(size)s, compact = %(compact)s WHERE id = 1
    """


@dataclass
class Batch:
    """What integrating a batch writes, gathered before a single write."""

    events: list[dict[str, Any]] = field(default_factory=list)
    orgs: list[tuple[int, str]] = field(default_factory=list)
    secrets: list[tuple[int, str, str, str]] = field(default_factory=list)
    nodes: list[tuple[NodeId, bytes]] = field(default_factory=list)
    queued: list[int] = field(default_factory=list)  # audit_queue rows consumed


class AuditUnavailableError(UnavailableError):
    """The log's head stayed held past the wait: no index could be given; nothing changed."""

    slug = "audit-unavailable"
    title = "The audit log cannot number events right now"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers["Retry-After"] = "1"


_HEAD = select(AuditHead.size, AuditHead.compact).where(AuditHead.id == 1)
_HEAD_IF_FREE = _HEAD.with_for_update(skip_locked=True)
# The oldest queued events, as one JSON document.
_QUEUED = (
    "SELECT CAST(json_agg(q ORDER BY q.id) AS text) FROM"
    " (SELECT * FROM audit_queue ORDER BY id LIMIT {limit}) AS q"
)
_QUEUED_PG = _QUEUED.format(limit="%(limit)s")
# Waiting for the head on PostgreSQL: bound the wait, lock, lift the bound, read the queue,
# as one multi-command statement (one round trip; storage.db.raw_execute gives each
# command's rows). The queue is read once the head is held, in a snapshot of its own: what
# the previous holder committed (and consumed) is seen. Only integers are formatted in.
_HEAD_WAITED_PG = (  # noqa: S608
    "SET LOCAL lock_timeout = '{wait_ms}ms';"
    " SELECT size, compact FROM audit_head WHERE id = 1 FOR UPDATE;"
    " SET LOCAL lock_timeout = DEFAULT; "
) + _QUEUED
# Queueing events on PostgreSQL: one statement whatever their number (not an executemany,
# which psycopg sends through a pipeline of one statement per row), in their order.
_QUEUE_PG = """
    INSERT INTO audit_queue (
        occurred_at, request_id, actor_id, actor_org_id, action, resource_type, resource_id,
        outcome, reason, policy_version, entry_head, entry_tail, orgs, secrets
    )
    SELECT r.occurred_at, r.request_id, r.actor_id, r.actor_org_id, r.action, r.resource_type,
        r.resource_id, r.outcome, r.reason, r.policy_version, r.entry_head, r.entry_tail,
        r.orgs, r.secrets
    FROM json_array_elements(CAST(%(events)s AS json)) WITH ORDINALITY AS e(event, n),
        json_populate_record(NULL::audit_queue, e.event) AS r
    ORDER BY e.n
    """


def take_head(
    session: Session, *, wait_seconds: float | None, limit: int
) -> tuple[CompactRange, list[dict[str, Any]]] | None:
    """Holds the log's head for the rest of the transaction: the tree to extend, and the
    oldest queued events (at most ``limit``: those committed, and this transaction's own)
    as dicts of their columns.

    ``wait_seconds`` None: only if no other transaction holds it (None otherwise). A number:
    waits that long at most, then AuditUnavailableError (the transaction is then spoiled
    and must roll back). Fails closed: AuditIntegrityError if the stored compact range does
    not fit the size.
    """
    if session.get_bind().dialect.name != "postgresql":
        row = session.execute(_HEAD).one()  # SQLite: writers take turns (BEGIN IMMEDIATE)
    elif wait_seconds is not None:
        return _wait_for_head_pg(session, wait_seconds, limit)
    else:
        free = session.execute(_HEAD_IF_FREE).one_or_none()
        if free is None:
            return None
        row = free
    return _tree(*row), _queued(session, limit)


def _wait_for_head_pg(
    session: Session, wait_seconds: float, limit: int
) -> tuple[CompactRange, list[dict[str, Any]]]:
    waited = _HEAD_WAITED_PG.format(wait_ms=int(wait_seconds * 1000), limit=int(limit))
    try:
        _, head, _, queued = raw_execute(session, [(waited, None)])
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == _LOCK_NOT_AVAILABLE:
            raise AuditUnavailableError(
                f"the audit log's integrator held its head for more than {wait_seconds:g}"
                " s; nothing was changed, retry shortly"
            ) from None
        raise
    return _tree(*head[0]), _from_document(queued)


def _tree(size: int, compact: bytes | None) -> CompactRange:
    raw = bytes(compact or b"")
    if len(raw) != _HASH * int(size).bit_count():
        raise AuditIntegrityError(f"audit_head's compact range does not fit size {size}")
    return CompactRange(int(size), [raw[i : i + _HASH] for i in range(0, len(raw), _HASH)])


def write_batch(session: Session, batch: Batch, tree: CompactRange) -> None:
    """Writes a batch's events and what they add, consumes its queue rows, moves the head."""
    head = {"size": tree.size, "compact": b"".join(tree.roots) or None}
    if session.get_bind().dialect.name == "postgresql":
        raw_execute(
            session,
            [
                (
                    _BATCH_PG,
                    {
                        "events": _events_json(batch.events),
                        "orgs": _json({"seq": seq, "org_id": org} for seq, org in batch.orgs),
                        "secrets": _json(
                            {"seq": seq, "name": name, "digest": digest, "value": value}
                            for seq, name, digest, value in batch.secrets
                        ),
                        "nodes": _json(
                            {"level": node.level, "idx": node.index, "hash": digest.hex()}
                            for node, digest in batch.nodes
                        ),
                        "queued": batch.queued,
                        **head,
                    },
                )
            ],
        )
        return
    session.execute(insert(AuditEvent), batch.events)
    if batch.orgs:
        session.execute(
            insert(AuditEventOrg), [{"seq": seq, "org_id": org} for seq, org in batch.orgs]
        )
    if batch.secrets:
        session.execute(
            insert(AuditSecret),
            [{"seq": s, "name": n, "digest": d, "value": v} for s, n, d, v in batch.secrets],
        )
    session.execute(
        insert(AuditNode),
        [{"level": node.level, "idx": node.index, "hash": digest} for node, digest in batch.nodes],
    )
    if batch.queued:
        session.execute(delete(AuditQueueEntry).where(AuditQueueEntry.id.in_(batch.queued)))
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(**head))


def _iso(value: datetime | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


def _events_json(events: Iterable[Mapping[str, Any]]) -> str:
    """Events' columns as the statements above read them (``occurred_at`` as ISO text)."""
    return _json({**event, "occurred_at": _iso(event["occurred_at"])} for event in events)


def _json(rows: Iterable[dict[str, Any]]) -> str:
    return json.dumps(list(rows), ensure_ascii=False, separators=(",", ":"))


def queue_events(
    session: Session, events: Sequence[Mapping[str, Any]], *, alone: bool = False
) -> None:
    """Queues events (``audit_queue`` rows but their ids) for the integrator, in their order.
    PostgreSQL only: on SQLite the head is always free, and every event is numbered in its
    own transaction. ``alone``: nothing else will be written before the commit."""
    raw_execute(session, [(_QUEUE_PG, {"events": _events_json(events)})], alone=alone)


def _queued(session: Session, limit: int) -> list[dict[str, Any]]:
    if session.get_bind().dialect.name == "postgresql":
        return _from_document(raw_execute(session, [(_QUEUED_PG, {"limit": limit})])[0])
    queue = AuditQueueEntry.__table__
    rows = session.execute(select(queue).order_by(queue.c.id).limit(limit)).mappings()
    return [dict(row) for row in rows]


def _from_document(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Queued events as _QUEUED_PG reads them: one JSON document (parsed in C, and
    ``occurred_at`` stays the ISO text the batch writes back)."""
    document = rows[0][0]
    return list(json.loads(document)) if document else []
