"""webhooks at scale: why and when an endpoint was disabled, its failure budget's count, and
an index for deleting old deliveries

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table, PostgreSQL alters it in place.
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_reason", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("consecutive_dead", sa.Integer(), nullable=False, server_default="0")
        )
    # Endpoints an admin disabled before reasons were recorded keep that as their reason.
    op.execute(
        "UPDATE webhook_endpoints SET disabled_reason = 'manual', disabled_at = updated_at"
        " WHERE status = 'disabled'"
    )
    op.create_index(
        "ix_webhook_deliveries_retention", "webhook_deliveries", ["status", "updated_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_retention", table_name="webhook_deliveries")
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_column("consecutive_dead")
        batch_op.drop_column("disabled_at")
        batch_op.drop_column("disabled_reason")
