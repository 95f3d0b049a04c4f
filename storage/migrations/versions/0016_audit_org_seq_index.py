"""audit org seq index: one org's events in index order from one index range

``ix_audit_event_orgs_org_id`` (org_id alone) becomes ``ix_audit_event_orgs_org_seq``
(org_id, seq), which serves the same lookups and also keyset pages of an org's events
(``org_id = :org AND seq > :after ORDER BY seq LIMIT :n``) without a sort, so scoped
exports and event listings stay linear even before the table has statistics.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_event_orgs_org_seq", "audit_event_orgs", ["org_id", "seq"])
    op.drop_index("ix_audit_event_orgs_org_id", table_name="audit_event_orgs")


def downgrade() -> None:
    op.create_index("ix_audit_event_orgs_org_id", "audit_event_orgs", ["org_id"])
    op.drop_index("ix_audit_event_orgs_org_seq", table_name="audit_event_orgs")
