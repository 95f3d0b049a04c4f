"""Datasets and their immutable versions (deposits)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import ID, Base


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
