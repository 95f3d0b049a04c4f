"""Appending audit events: one gap-free order and its Merkle tree, in the caller's transaction.

The single ``audit_head`` row is the log's lock: ``SELECT ... FOR UPDATE`` takes it for the
rest of the transaction, so callers append last, right before they commit. Everything that
does not depend on the sequence number (the entry's bytes but for ``seq``, keyed digests,
size checks) is prepared before the lock; under it the log reads the head's compact range
(the O(log n) subtree roots it extends), writes the event, its leaf, the subtree roots the
leaf completes and the new head (see escrow.audit.head). A rollback undoes all of it, so the
sequence and the tree never have gaps.

Sensitive values (free text, purposes, client IPs) enter the immutable entry only as
``hmac-sha256:<hex>`` keyed digests; their plaintext goes to ``audit_secrets``, which may be
erased without changing a single leaf.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import CursorResult, delete
from sqlalchemy.orm import Session

from crypto import canonical_json, leaf_hash
from escrow.audit.head import lock_head, write_append
from escrow.clock import Clock
from escrow.context import RequestContext
from escrow.errors import ValidationError
from storage.models import AuditEvent, AuditSecret

Outcome = Literal["success", "denied", "failed"]
KeyedDigest = Callable[[bytes], str]
# Called with each appended event inside the same transaction (webhook outbox, metrics):
# a listener that raises fails the action, so what it writes is as durable as the event.
AuditListener = Callable[[Session, RequestContext, "AuditRecord", int], None]
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
    ) -> None:
        self._clock = clock
        self._keyed_digest = keyed_digest
        self._listeners = list(listeners)

    def add_listener(self, listener: AuditListener) -> None:
        self._listeners.append(listener)

    def digest(self, value: str) -> str:
        """The keyed digest an event holds for ``value`` (to search events by a known value)."""
        return DIGEST_PREFIX + self._keyed_digest(value.encode("utf-8"))

    def append(self, session: Session, ctx: RequestContext, record: AuditRecord) -> int:
        """Fails closed: the event is written in the caller's transaction or the caller fails.

        Returns the event's sequence number, which is also its Merkle leaf index.
        """
        hidden = self._sensitive(ctx, record)
        orgs = sorted({*record.org_ids, *([ctx.actor.org_id] if ctx.actor else [])})
        when = self._clock.now()
        template = _EntryTemplate(
            {
                "request_id": ctx.request_id,
                "actor": {"id": ctx.actor.id, "org": ctx.actor.org_id} if ctx.actor else None,
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
        session.flush()  # the caller's own changes go out before the lock, not under it
        tree = lock_head(session)  # the lock: from here on, as few round trips as possible
        seq = tree.size
        entry = template.render(seq)
        completed = tree.append(leaf_hash(entry))
        session.add(
            AuditEvent(
                seq=seq,
                occurred_at=when,
                request_id=ctx.request_id,
                actor_id=ctx.actor.id if ctx.actor else None,
                actor_org_id=ctx.actor.org_id if ctx.actor else None,
                action=record.action,
                resource_type=record.resource_type,
                resource_id=record.resource_id,
                outcome=record.outcome,
                reason=record.reason,
                policy_version=record.policy_version,
                entry=entry.decode("utf-8"),
            )
        )
        session.flush()  # through the ORM, so that mapper events see every audit event
        secrets = [(name, digest, value) for name, (digest, value) in hidden.items()]
        write_append(session, seq, orgs, secrets, completed, tree)
        for listener in self._listeners:
            listener(session, ctx, record, seq)
        return seq

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
    """RFC 8785 bytes of an entry, built before its sequence number is known.

    Canonical JSON sorts members, and every member but "seq", "time" and "v" sorts before
    "seq", so the entry is ``{<members before seq>,"seq":N,"time":...,"v":2}``: rendering it
    under the lock is a concatenation, and its size is checked before the lock is taken.
    """

    def __init__(self, members: dict[str, Any], *, time: str) -> None:
        if any(name >= "seq" for name in members):
            raise ValueError("entry members other than seq, time and v must sort before 'seq'")
        head = canonical_json(members)
        tail = canonical_json({"time": time, "v": ENTRY_VERSION})
        self._head = head[:-1] + b',"seq":'
        self._tail = b"," + tail[1:]
        largest = len(self._head) + _MAX_SEQ_DIGITS + len(self._tail)
        if largest > MAX_ENTRY_BYTES:
            raise AuditEntryTooLargeError(
                f"the audit event for this request would be {largest} bytes,"
                f" more than {MAX_ENTRY_BYTES}; nothing was changed"
            )

    def render(self, seq: int) -> bytes:
        return self._head + str(seq).encode("ascii") + self._tail


def _checked_reason(reason: str | None) -> str | None:
    if reason is not None and not _REASON.match(reason):
        raise ValueError(
            "audit reasons are short codes ([a-z0-9_.:-], at most 64); pass free text in"
            " AuditRecord.sensitive so that only its keyed digest enters the log"
        )
    return reason
