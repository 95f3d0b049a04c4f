"""SQLAlchemy tables for the metadata; the audit table is append-only with a gap-free sequence."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from advanced_alchemy.types import DateTimeUTC
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
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = String(36)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTimeUTC(timezone=True),
        dict[str, Any]: JSON,
    }


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Partnership(Base):
    __tablename__ = "partnerships"
    __table_args__ = (
        UniqueConstraint("org_a_id", "org_b_id", "kind"),
        CheckConstraint("org_a_id < org_b_id", name="ordered_pair"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_a_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    org_b_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class Principal(Base):
    __tablename__ = "principals"
    __table_args__ = (UniqueConstraint("org_id", "kind", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "user" | "service"
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    roles: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class RevokedToken(Base):
    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_id: Mapped[str] = mapped_column(ID)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime]


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


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (
        UniqueConstraint("owner_org_id", "name"),
        Index("ix_datasets_owner_page", "owner_org_id", "id"),  # a keyset page per org
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[list[str]] = mapped_column(JSON)
    media_type: Mapped[str] = mapped_column(String(255))
    schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="active")
    version_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DatasetVersion(Base):
    """One immutable deposit. ``wrapped_dek`` is NULL once shredded: the data is gone."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "number"),
        UniqueConstraint("dataset_id", "idempotency_key"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(255))
    blob_key: Mapped[str] = mapped_column(String(255), unique=True)
    ciphertext_size: Mapped[int] = mapped_column(BigInteger)
    segment_size: Mapped[int] = mapped_column(Integer)
    stream_header: Mapped[str] = mapped_column(String(128))  # base64 Tink header
    wrapped_dek: Mapped[str | None] = mapped_column(String(255))
    kek_id: Mapped[str | None] = mapped_column(String(64), index=True)
    depositor_id: Mapped[str] = mapped_column(ID)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    attestation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    receipt: Mapped[dict[str, Any]] = mapped_column(JSON)
    audit_seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    shredded_at: Mapped[datetime | None]


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


class Agreement(Base):
    """Escrow terms of one dataset for one beneficiary organization."""

    __tablename__ = "agreements"
    __table_args__ = (Index("ix_agreements_beneficiary_state", "beneficiary_org_id", "state"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    beneficiary_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    purpose: Mapped[str] = mapped_column(Text)
    required_approvals: Mapped[int] = mapped_column(Integer)
    approvers: Mapped[list[str]] = mapped_column(JSON)  # e.g. "owner:steward", "org:<slug>:admin"
    not_before: Mapped[datetime | None]
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    objection_seconds: Mapped[int | None] = mapped_column(Integer)
    attestation_event: Mapped[str | None] = mapped_column(String(64))
    attestation_org_id: Mapped[str | None] = mapped_column(String(36))
    view: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    conditions_met_at: Mapped[datetime | None]
    released_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(64))
    release_receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AgreementDecision(Base):
    """An approval or rejection by one principal, under one of the agreement's approver specs."""

    __tablename__ = "agreement_decisions"
    __table_args__ = (UniqueConstraint("agreement_id", "principal_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), index=True)
    principal_id: Mapped[str] = mapped_column(ID)
    org_id: Mapped[str] = mapped_column(ID)
    approver: Mapped[str] = mapped_column(String(120))  # the spec it satisfied
    decision: Mapped[str] = mapped_column(String(10))  # "approve" | "reject" | "object"
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class AgreementAttestation(Base):
    """A designated organization's statement that the trigger event happened."""

    __tablename__ = "agreement_attestations"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[str] = mapped_column(ID)
    principal_id: Mapped[str] = mapped_column(ID)
    statement: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class AgreementParty(Base):
    """Organizations with a say in an agreement (owner, beneficiary, approver, attester).

    Lets list endpoints and audit scoping filter agreements in SQL.
    """

    __tablename__ = "agreement_parties"

    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), primary_key=True)
    org_id: Mapped[str] = mapped_column(ID, primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)


class PolicyBundleRow(Base):
    """A version of the Polar policy with its YAML tests; exactly one is ``active`` at a time
    (every replica serves that one), earlier ones are ``retired``, uploads are ``candidate``."""

    __tablename__ = "policy_bundles"
    __table_args__ = (
        CheckConstraint("state IN ('candidate', 'active', 'retired')", name="policy_state"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    files: Mapped[dict[str, Any]] = mapped_column(JSON)  # relative path -> Polar text
    tests: Mapped[dict[str, Any]] = mapped_column(JSON)  # file name -> YAML text
    author_id: Mapped[str | None] = mapped_column(ID)  # None: seeded from ESCROW_POLICIES_DIR
    state: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]


# At most one active bundle, enforced by the database (a partial unique index).
Index(
    "uq_policy_bundles_active",
    PolicyBundleRow.state,
    unique=True,
    postgresql_where=PolicyBundleRow.state == "active",
    sqlite_where=PolicyBundleRow.state == "active",
)


class WebhookEndpoint(Base):
    """A URL an organization registered to receive the events that concern it.

    ``status``: ``active`` (receives events), ``disabled`` (no new events; queued deliveries
    wait) or ``deleted`` (gone from the API; its secrets are erased, its history is kept).
    A disabled endpoint says why (``disabled_reason``: ``manual`` by an admin, or
    ``failure_budget`` once ``consecutive_dead`` deliveries in a row died) and since when.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        Index("ix_webhook_endpoints_org_page", "org_id", "id"),
        CheckConstraint("status IN ('active', 'disabled', 'deleted')", name="webhook_status"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(200), default="")
    events: Mapped[list[str]] = mapped_column(JSON)  # the event types it subscribes to
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_by: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(40))
    disabled_at: Mapped[datetime | None]
    # Dead deliveries since the last delivered one: the failure budget's count.
    consecutive_dead: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class WebhookSecret(Base):
    """A signing secret, sealed under its own DEK (wrapped by the keyring's active KEK).

    An endpoint has one current secret (``expires_at`` NULL) and, during a rotation's grace
    period, the previous one; expired rows are deleted.
    """

    __tablename__ = "webhook_secrets"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    ciphertext: Mapped[str] = mapped_column(Text)  # base64 of the StreamingAead ciphertext
    wrapped_dek: Mapped[str] = mapped_column(String(255))
    kek_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """One event for one endpoint: the durable outbox row and its delivery state.

    ``status``: ``pending`` (due at ``next_attempt_at``), ``delivered``, ``dead`` (attempts
    exhausted) or ``cancelled`` (the endpoint was deleted). ``claim_id`` names the run that
    is sending it; ``next_attempt_at`` is pushed past that run's deadline while it sends.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_page", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_retention", "status", "updated_at"),
        CheckConstraint(
            "status IN ('pending', 'delivered', 'dead', 'cancelled')", name="delivery_status"
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    org_id: Mapped[str] = mapped_column(ID)
    event_id: Mapped[str] = mapped_column(ID, index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body every attempt sends
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    claim_id: Mapped[str | None] = mapped_column(String(36))
    audit_seq: Mapped[int | None] = mapped_column(BigInteger)  # the event it was derived from
    redelivery_of: Mapped[str | None] = mapped_column(ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# The delivery job's scan: pending rows by due time, and nothing else.
Index(
    "ix_webhook_deliveries_due",
    WebhookDelivery.next_attempt_at,
    postgresql_where=WebhookDelivery.status == "pending",
    sqlite_where=WebhookDelivery.status == "pending",
)


class WebhookAttempt(Base):
    """One POST of a delivery and what came of it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    duration_ms: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))  # "delivered" | "failed" | "dead"
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))


class WebhookNotice(Base):
    """A once-only event already emitted for a subject (``agreement.expiring`` per agreement);
    the primary key keeps replicas from emitting it twice."""

    __tablename__ = "webhook_notices"

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ID, primary_key=True)
    created_at: Mapped[datetime]


class Population(Base):
    """A named segment of an organization's tabular dataset for overlaps (DESIGN section 11).

    ``revision`` grows with every change of the match or the predicate, so that overlap
    results computed for an older revision are never served for a newer one.
    """

    __tablename__ = "populations"
    __table_args__ = (
        UniqueConstraint("dataset_id", "name"),
        Index("ix_populations_org_page", "org_id", "id"),
        CheckConstraint(
            "default_level IN ('hidden', 'counts', 'overlaps', 'all')", name="population_level"
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    match_field: Mapped[str] = mapped_column(String(200))
    normalizer: Mapped[str] = mapped_column(String(20))
    where: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    default_level: Mapped[str] = mapped_column(String(20))
    default_fields: Mapped[list[str]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PopulationSharing(Base):
    """A population's sharing level toward one partner, overriding its default."""

    __tablename__ = "population_sharing"
    __table_args__ = (
        CheckConstraint(
            "level IN ('hidden', 'counts', 'overlaps', 'all')", name="population_sharing_level"
        ),
    )

    population_id: Mapped[str] = mapped_column(ForeignKey("populations.id"), primary_key=True)
    partner_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    level: Mapped[str] = mapped_column(String(20))
    fields: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class OverlapNotice(Base):
    """The last overlap count an organization could see for a pair of populations, as a keyed
    digest (never the count itself): ``overlaps.changed`` is sent when it changes."""

    __tablename__ = "overlap_notices"

    viewer_org_id: Mapped[str] = mapped_column(ID, primary_key=True)
    mine_id: Mapped[str] = mapped_column(ID, primary_key=True)
    theirs_id: Mapped[str] = mapped_column(ID, primary_key=True)
    count_digest: Mapped[str] = mapped_column(String(80))
    theirs_version_id: Mapped[str] = mapped_column(ID)  # the partner's version it counts
    updated_at: Mapped[datetime]


class SharingProfile(Base):
    """A Delta Sharing recipient credential of one organization (its bearer token is shown
    once and kept only as a slow hash). It reads that organization's live releases."""

    __tablename__ = "sharing_profiles"
    __table_args__ = (Index("ix_sharing_profiles_org_page", "org_id", "id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class SharingFile(Base):
    """A version's disclosure view materialized once as Parquet, sealed under its own DEK,
    so that signed URLs serve stable bytes with exact sizes and ranges. ``view_sha256`` is
    ``whole`` for an agreement that grants the dataset whole."""

    __tablename__ = "sharing_files"
    __table_args__ = (UniqueConstraint("version_id", "view_sha256"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id"))
    view_sha256: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(255), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    ciphertext_size: Mapped[int] = mapped_column(BigInteger)
    segment_size: Mapped[int] = mapped_column(Integer)
    stream_header: Mapped[str] = mapped_column(String(128))
    wrapped_dek: Mapped[str] = mapped_column(String(255))
    kek_id: Mapped[str] = mapped_column(String(64), index=True)
    num_records: Mapped[int] = mapped_column(BigInteger)
    stats: Mapped[str] = mapped_column(Text)  # the protocol's per-file statistics, as JSON
    schema_string: Mapped[str] = mapped_column(Text)  # the Spark-style schema of the file
    created_at: Mapped[datetime]


class SharingFetch(Base):
    """A file fetched under one query's signed URLs: one download event per file and query,
    however many range requests a connector makes."""

    __tablename__ = "sharing_fetches"

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    file_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)


class JobTurn(Base):
    """A periodic job's turns across every process that schedules it: a process runs the
    job only if it takes the turn (``started_at`` at least an interval ago), so a cluster of
    replicas or workers runs each job once per interval (escrow/schedule.py)."""

    __tablename__ = "job_turns"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime]  # when the last turn was taken
    finished_at: Mapped[datetime | None]  # when the last successful run ended
    failed_at: Mapped[datetime | None]  # when the last run failed
    runs: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(BigInteger, default=0)


class AuthEpoch(Base):
    """One row; moved by database triggers whenever a token's owner may change (migration
    0018), so that processes know when to forget the owners they remember."""

    __tablename__ = "auth_epoch"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger)


class RateBucket(Base):
    """A token bucket of an authentication rate limit, shared by every replica on PostgreSQL
    (escrow/auth/buckets.py). Times are seconds since the epoch; a row whose ``full_at`` has
    passed holds a full bucket, the same as no row, and is deleted by a periodic job."""

    __tablename__ = "rate_buckets"

    bucket: Mapped[str] = mapped_column(String(32), primary_key=True)  # which limit
    subject: Mapped[str] = mapped_column(String(128), primary_key=True)  # address or key id
    tokens: Mapped[float]
    at: Mapped[float]  # when ``tokens`` was the level
    full_at: Mapped[float] = mapped_column(index=True)
