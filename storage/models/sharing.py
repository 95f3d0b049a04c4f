"""Delta Sharing: recipient profiles, materialized files and the fetches made under them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import ID, Base


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
