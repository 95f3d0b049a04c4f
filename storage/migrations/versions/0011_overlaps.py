"""overlaps: populations, per-partner sharing levels, digests of the counts partners saw

Revision ID: 0011
Revises: 0006
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.String(length=36)
_LEVELS = "('hidden', 'counts', 'overlaps', 'all')"


def _when(name: str) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "populations",
        sa.Column("id", _ID, nullable=False),
        sa.Column("org_id", _ID, nullable=False),
        sa.Column("dataset_id", _ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("match_field", sa.String(length=200), nullable=False),
        sa.Column("normalizer", sa.String(length=20), nullable=False),
        sa.Column("where", sa.JSON(), nullable=True),
        sa.Column("default_level", sa.String(length=20), nullable=False),
        sa.Column("default_fields", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", _ID, nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.CheckConstraint(f"default_level IN {_LEVELS}", name="population_level"),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"]),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dataset_id", "name"),
    )
    op.create_index("ix_populations_org_page", "populations", ["org_id", "id"])
    op.create_index("ix_populations_dataset_id", "populations", ["dataset_id"])
    op.create_table(
        "population_sharing",
        sa.Column("population_id", _ID, nullable=False),
        sa.Column("partner_org_id", _ID, nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        _when("updated_at"),
        sa.CheckConstraint(f"level IN {_LEVELS}", name="population_sharing_level"),
        sa.ForeignKeyConstraint(["population_id"], ["populations.id"]),
        sa.ForeignKeyConstraint(["partner_org_id"], ["organizations.id"]),
        sa.PrimaryKeyConstraint("population_id", "partner_org_id"),
    )
    op.create_table(
        "overlap_notices",
        sa.Column("viewer_org_id", _ID, nullable=False),
        sa.Column("mine_id", _ID, nullable=False),
        sa.Column("theirs_id", _ID, nullable=False),
        sa.Column("count_digest", sa.String(length=80), nullable=False),
        sa.Column("theirs_version_id", _ID, nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("viewer_org_id", "mine_id", "theirs_id"),
    )


def downgrade() -> None:
    op.drop_table("overlap_notices")
    op.drop_table("population_sharing")
    op.drop_index("ix_populations_dataset_id", table_name="populations")
    op.drop_index("ix_populations_org_page", table_name="populations")
    op.drop_table("populations")
