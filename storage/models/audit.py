"""The audit log: events (append-only, with a gap-free sequence) and what is kept beside them.

The queue of events not yet numbered, the organizations each event touches, the Merkle tree's
head and nodes, the signed checkpoints, and the plaintexts behind keyed digests.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class AuditHead(Base):
    """One row; bumping ``size`` takes the log's single lock for the rest of the transaction."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    # The Merkle tree's compact range at ``size``: the perfect subtree roots tiling it,
    # 32 bytes each, largest first (NULL for the empty tree). Appends read it under the lock.
    compact: Mapped[bytes | None] = mapped_column(LargeBinary)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_action", "action", "seq"),
        Index("ix_audit_events_actor", "actor_id", "seq"),
        Index("ix_audit_events_resource", "resource_type", "resource_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_org_id: Mapped[str | None] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(40))
    resource_id: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(200))
    policy_version: Mapped[str | None] = mapped_column(String(64))
    entry: Mapped[str] = mapped_column(Text)  # canonical JSON: the Merkle leaf's bytes


class AuditQueueEntry(Base):
    """An audit event recorded but not yet integrated into the log (no sequence number yet).

    Written, in the transaction of the change it records, only when another transaction
    holds the log's head; the next integrator (the holder, any later append, or the
    background integrator) gives it its number and moves it into ``audit_events``. The
    entry's canonical bytes are kept split around the number: ``entry_head`` + seq +
    ``entry_tail`` is the Merkle leaf.
    """

    __tablename__ = "audit_queue"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    occurred_at: Mapped[datetime]
    request_id: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_org_id: Mapped[str | None] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(64))
    resource_type: Mapped[str] = mapped_column(String(40))
    resource_id: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(200))
    policy_version: Mapped[str | None] = mapped_column(String(64))
    entry_head: Mapped[str] = mapped_column(Text)
    entry_tail: Mapped[str] = mapped_column(Text)
    orgs: Mapped[list[str]] = mapped_column(JSON)
    # [name, keyed digest, plaintext] of each sensitive value (audit_secrets once integrated)
    secrets: Mapped[list[list[str]]] = mapped_column(JSON)


class AuditEventOrg(Base):
    """Which organizations an event touches (actor, owner, beneficiary): scoped reading."""

    __tablename__ = "audit_event_orgs"
    __table_args__ = (Index("ix_audit_event_orgs_org_seq", "org_id", "seq"),)  # keyset per org

    seq: Mapped[int] = mapped_column(ForeignKey("audit_events.seq"), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(36), primary_key=True)


class AuditNode(Base):
    """A perfect subtree root of the audit Merkle tree (RFC 6962 hashes), stored on append.

    ``(level, idx)`` covers leaves ``[idx * 2**level, (idx + 1) * 2**level)``; level 0 holds the
    leaf hashes. Any proof needs at most about ``2 * log2(size)`` of these rows.
    """

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpoint(Base):
    """A signed tree head. ``previous_size`` is unique: checkpoints form one chain, each
    checked consistent with the one before it when it was issued."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (CheckConstraint("tree_size > previous_size", name="grows"),)

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    previous_size: Mapped[int] = mapped_column(BigInteger, unique=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)  # the C2SP signed note, exactly as served
    issued_at: Mapped[datetime]


class AuditSecret(Base):
    """The plaintext behind a keyed digest in an audit event; deleting it never touches the log."""

    __tablename__ = "audit_secrets"

    seq: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("audit_events.seq"), primary_key=True, autoincrement=False
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest: Mapped[str] = mapped_column(String(80), index=True)
    value: Mapped[str] = mapped_column(Text)
