"""Recording audit events: in the caller's transaction, numbered by whoever holds the head.

An event is written in the transaction of the change it records (no event, no change). On
PostgreSQL it goes to ``audit_queue``, a plain insert: nobody waits on a global lock to
record. Callers that must return the event's index (a deposit receipt, a webhook that cites
it) ask for one and wait for the log's head row, boundedly: holding it, their transaction
numbers the events queued before and its own, extends the Merkle tree and moves the head
(escrow.audit.integrator). Queued events are numbered by the next holder or by the
background integrator moments later; a rollback undoes all of it, so the sequence and the
tree never have gaps or duplicates. On SQLite (one writer) every event is numbered at once.

Everything that does not depend on the sequence number (the entry's bytes but for ``seq``,
keyed digests, size checks) is prepared before the head is touched.

Sensitive values (free text, purposes, client IPs) enter the immutable entry only as
``hmac-sha256:<hex>`` keyed digests; their plaintext goes to ``audit_secrets``, which may be
erased without changing a single leaf.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import CursorResult, delete
from sqlalchemy.orm import Session

from crypto import canonical_json
from escrow.audit.head import DEFAULT_INDEX_WAIT_SECONDS, AuditUnavailableError
from escrow.audit.integrator import Recorded, record_events
from escrow.clock import Clock
from escrow.context import RequestContext
from escrow.errors import ValidationError
from storage.models import AuditSecret

Outcome = Literal["success", "denied", "failed"]
KeyedDigest = Callable[[bytes], str]
# Called with each recorded event inside the same transaction (webhook outbox, metrics),
# with its index when it was numbered there: a listener that raises fails the action, so
# what it writes is as durable as the event.
AuditListener = Callable[[Session, RequestContext, "AuditRecord", int | None], None]
NeedsIndex = Callable[["AuditRecord"], bool]
Writes = Callable[["AuditRecord"], bool]
ENTRY_VERSION = 2  # v1 entries (before the Merkle tree) have no "sensitive" member
MAX_ENTRY_BYTES = 64 * 1024
MAX_SENSITIVE_BYTES = 64 * 1024
DIGEST_PREFIX = "hmac-sha256:"
_MAX_SEQ_DIGITS = 16  # canonical JSON integers stay below 2**53
_REASON = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
_SENSITIVE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class AuditEntryTooLargeError(ValidationError):
    """The event would exceed MAX_ENTRY_BYTES; nothing is written and the request fails."""


@dataclass(frozen=True)
class AuditRecord:
    """What happened, to what, and with which result. Identifiers only: no secrets.

    ``reason`` is a short machine code (``policy``, ``bad_secret``). Anything a person wrote
    or that identifies a person (purposes, free-text reasons, addresses) goes in
    ``sensitive``: the event keeps only its keyed digest. The client IP is added there
    automatically.
    """

    action: str
    outcome: Outcome
    resource_type: str
    resource_id: str | None = None
    reason: str | None = None
    org_ids: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    policy_version: str | None = None
    sensitive: Mapping[str, str | None] = field(default_factory=dict)


class AuditLog:
    def __init__(
        self,
        clock: Clock,
        keyed_digest: KeyedDigest,
        listeners: Sequence[AuditListener] = (),
        *,
        index_wait_seconds: float = DEFAULT_INDEX_WAIT_SECONDS,
    ) -> None:
        self._clock = clock
        self._keyed_digest = keyed_digest
        self._listeners = list(listeners)
        self._needs_index: list[NeedsIndex] = []
        self._writes: list[Writes] = [_any_record for _ in self._listeners]
        self._index_wait = index_wait_seconds
        self._indexing = threading.Lock()

    def add_listener(
        self,
        listener: AuditListener,
        *,
        needs_index: NeedsIndex | None = None,
        writes: Writes | None = None,
    ) -> None:
        """``needs_index``: the records for which the listener must be given an index (their
        appends wait for the head; keep it to rare actions). ``writes``: the records for
        which it may write to the database (None: any record); see ``append(last=True)``."""
        self._listeners.append(listener)
        if needs_index is not None:
            self._needs_index.append(needs_index)
        self._writes.append(writes or _any_record)

    @contextmanager
    def indexing(self) -> Iterator[None]:
        """Around a whole transaction that will append an indexed event, from before its first
        lock to its end: this process's such transactions take turns here, so at most one of
        them waits in the database for the rows it will lock (the head, a dataset's row).

        Waiting there, a crowd is woken by every commit of the holder: each waiter rechecks
        the row and all but one go back to sleep (CPU spent on nothing, and tails of
        seconds). The turn is waited for at most ``index_wait_seconds``, then
        AuditUnavailableError (503, nothing changed), as the head is.
        """
        if not self._indexing.acquire(timeout=self._index_wait):
            raise AuditUnavailableError(
                f"appends that need an index waited for their turn more than"
                f" {self._index_wait:g} s; nothing was changed, retry shortly"
            )
        try:
            yield
        finally:
            self._indexing.release()

    def digest(self, value: str) -> str:
        """The keyed digest an event holds for ``value`` (to search events by a known value)."""
        return DIGEST_PREFIX + self._keyed_digest(value.encode("utf-8"))

    def append(
        self,
        session: Session,
        ctx: RequestContext,
        record: AuditRecord,
        *,
        indexed: bool = False,
        last: bool = False,
    ) -> int | None:
        """Fails closed: the event is written in the caller's transaction or the caller fails.

        Returns the event's sequence number (also its Merkle leaf index) when it was numbered
        in this transaction: always with ``indexed`` (or when a listener needs the index),
        after waiting for the head at most ``index_wait_seconds`` (AuditUnavailableError
        past that); otherwise whenever the head was free, and None when the event was
        queued behind another transaction's integration.

        ``last``: the caller commits right after, writing nothing more. If the transaction
        has written nothing yet (a denial, a download: it only read) and no listener writes
        for this record, the queued event then commits on its own, in one round trip
        instead of BEGIN, INSERT and COMMIT (``storage.db.raw_execute(alone=True)``).
        """
        return self.append_all(session, [(ctx, record)], indexed=indexed, last=last)[0]

    def append_all(
        self,
        session: Session,
        records: Sequence[tuple[RequestContext, AuditRecord]],
        *,
        indexed: bool = False,
        last: bool = False,
    ) -> list[int | None]:
        """``append`` for events a transaction records together (a denial and its concealed
        target), in their order, for the cost of one: the head is asked for once."""
        entries = [self._recorded(ctx, record) for ctx, record in records]
        session.flush()  # the caller's own changes go out before the head, not under it
        indexed = indexed or any(
            needs(record) for needs in self._needs_index for _, record in records
        )
        wait = self._index_wait if indexed else None
        alone = last and not any(writes(record) for writes in self._writes for _, record in records)
        numbers = record_events(session, entries, wait_seconds=wait, alone=alone)
        for (ctx, record), seq in zip(records, numbers, strict=True):
            for listener in self._listeners:
                listener(session, ctx, record, seq)
        return numbers

    def append_indexed(self, session: Session, ctx: RequestContext, record: AuditRecord) -> int:
        """``append`` for callers that must return the event's index (receipts cite it)."""
        seq = self.append(session, ctx, record, indexed=True)
        if seq is None:  # pragma: no cover - an indexed append numbers or raises
            raise RuntimeError("an indexed audit append was queued")
        return seq

    def _recorded(self, ctx: RequestContext, record: AuditRecord) -> Recorded:
        """The event as recorded: everything but its number (checked for size here)."""
        hidden = self._sensitive(ctx, record)
        actor = ctx.actor
        orgs = sorted({*record.org_ids, *([actor.org_id] if actor else [])})
        when = self._clock.now()
        template = _EntryTemplate(
            {
                "request_id": ctx.request_id,
                "actor": {"id": actor.id, "org": actor.org_id} if actor else None,
                "action": record.action,
                "resource": {"type": record.resource_type, "id": record.resource_id},
                "outcome": record.outcome,
                "reason": _checked_reason(record.reason),
                "orgs": orgs,
                "policy": record.policy_version,
                "details": record.details,
                "sensitive": {name: digest for name, (digest, _) in hidden.items()},
            },
            time=when.isoformat(timespec="microseconds"),
        )
        return Recorded(
            occurred_at=when,
            request_id=ctx.request_id,
            actor_id=actor.id if actor else None,
            actor_org_id=actor.org_id if actor else None,
            action=record.action,
            resource_type=record.resource_type,
            resource_id=record.resource_id,
            outcome=record.outcome,
            reason=record.reason,
            policy_version=record.policy_version,
            entry_head=template.head,
            entry_tail=template.tail,
            orgs=orgs,
            secrets=[[name, digest, value] for name, (digest, value) in hidden.items()],
        )

    def _sensitive(self, ctx: RequestContext, record: AuditRecord) -> dict[str, tuple[str, str]]:
        values = dict(record.sensitive)
        if ctx.client_ip and "client_ip" not in values:
            values["client_ip"] = ctx.client_ip
        hidden: dict[str, tuple[str, str]] = {}
        for name, value in sorted(values.items()):
            if value is None:
                continue
            if not _SENSITIVE_NAME.match(name):
                raise ValueError(f"sensitive value name {name!r} is not [a-z][a-z0-9_]{{0,63}}")
            if len(value.encode("utf-8")) > MAX_SENSITIVE_BYTES:
                raise AuditEntryTooLargeError(
                    f"{name} is longer than {MAX_SENSITIVE_BYTES} bytes", field=name
                )
            hidden[name] = (self.digest(value), value)
        return hidden


def _any_record(_record: AuditRecord) -> bool:
    return True


def writes_nothing(_record: AuditRecord) -> bool:
    """``add_listener(writes=...)`` for a listener that never writes to the database."""
    return False


def erase_sensitive_values(
    session: Session, *, seqs: list[int] | None = None, digests: list[str] | None = None
) -> int:
    """Deletes plaintexts (by event or by digest); the events and the tree stay unchanged."""
    query = delete(AuditSecret)
    if seqs is None and digests is None:
        raise ValueError("name the events or the digests whose plaintext to erase")
    if seqs is not None:
        query = query.where(AuditSecret.seq.in_(seqs))
    if digests is not None:
        query = query.where(AuditSecret.digest.in_(digests))
    result: CursorResult[Any] = session.execute(query)  # type: ignore[assignment]
    return int(result.rowcount or 0)


class _EntryTemplate:
    """RFC 8785 text of an entry, built before its sequence number is known.

    Canonical JSON sorts members, and every member but "seq", "time" and "v" sorts before
    "seq", so the entry is ``{<members before seq>,"seq":N,"time":...,"v":2}``: numbering it
    is a concatenation (``head + str(seq) + tail``), and its size is checked before the
    event is recorded.
    """

    def __init__(self, members: dict[str, Any], *, time: str) -> None:
        if any(name >= "seq" for name in members):
            raise ValueError("entry members other than seq, time and v must sort before 'seq'")
        head = canonical_json(members)
        tail = canonical_json({"time": time, "v": ENTRY_VERSION})
        before, after = head[:-1] + b',"seq":', b"," + tail[1:]
        self.head, self.tail = before.decode("utf-8"), after.decode("utf-8")
        largest = len(before) + _MAX_SEQ_DIGITS + len(after)
        if largest > MAX_ENTRY_BYTES:
            raise AuditEntryTooLargeError(
                f"the audit event for this request would be {largest} bytes,"
                f" more than {MAX_ENTRY_BYTES}; nothing was changed"
            )


def _checked_reason(reason: str | None) -> str | None:
    if reason is not None and not _REASON.match(reason):
        raise ValueError(
            "audit reasons are short codes ([a-z0-9_.:-], at most 64); pass free text in"
            " AuditRecord.sensitive so that only its keyed digest enters the log"
        )
    return reason
