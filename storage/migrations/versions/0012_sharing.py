"""sharing: Delta Sharing recipient profiles, materialized Parquet files, fetch sessions

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.String(length=36)


def _when(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sharing_profiles",
        sa.Column("id", _ID, nullable=False),
        sa.Column("org_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("created_by", _ID, nullable=False),
        _when("created_at"),
        _when("expires_at"),
        _when("revoked_at", nullable=True),
        _when("last_used_at", nullable=True),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sharing_profiles_org_page", "sharing_profiles", ["org_id", "id"])

    op.create_table(
        "sharing_files",
        sa.Column("id", _ID, nullable=False),
        sa.Column("dataset_id", _ID, nullable=False),
        sa.Column("version_id", _ID, nullable=False),
        sa.Column("view_sha256", sa.String(length=64), nullable=False),
        sa.Column("blob_key", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("ciphertext_size", sa.BigInteger(), nullable=False),
        sa.Column("segment_size", sa.Integer(), nullable=False),
        sa.Column("stream_header", sa.String(length=128), nullable=False),
        sa.Column("wrapped_dek", sa.String(length=255), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("num_records", sa.BigInteger(), nullable=False),
        sa.Column("stats", sa.Text(), nullable=False),
        sa.Column("schema_string", sa.Text(), nullable=False),
        _when("created_at"),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"]),
        sa.ForeignKeyConstraint(["version_id"], ["dataset_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("blob_key"),
        sa.UniqueConstraint("version_id", "view_sha256"),
    )
    op.create_index("ix_sharing_files_dataset_id", "sharing_files", ["dataset_id"])
    op.create_index("ix_sharing_files_kek_id", "sharing_files", ["kek_id"])

    op.create_table(
        "sharing_fetches",
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("file_id", sa.String(length=36), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("session_id", "file_id"),
    )
    op.create_index("ix_sharing_fetches_created_at", "sharing_fetches", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_sharing_fetches_created_at", table_name="sharing_fetches")
    op.drop_table("sharing_fetches")
    op.drop_index("ix_sharing_files_kek_id", table_name="sharing_files")
    op.drop_index("ix_sharing_files_dataset_id", table_name="sharing_files")
    op.drop_table("sharing_files")
    op.drop_index("ix_sharing_profiles_org_page", table_name="sharing_profiles")
    op.drop_table("sharing_profiles")
