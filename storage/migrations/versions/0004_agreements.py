"""agreements: terms, decisions, attestations, parties; keyset index for dataset pages

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.create_index("ix_datasets_owner_page", ["owner_org_id", "id"], unique=False)
    op.create_table(
        "agreements",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("dataset_id", sa.String(length=36), nullable=False),
        sa.Column("owner_org_id", sa.String(length=36), nullable=False),
        sa.Column("beneficiary_org_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("required_approvals", sa.Integer(), nullable=False),
        sa.Column("approvers", sa.JSON(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("objection_seconds", sa.Integer(), nullable=True),
        sa.Column("attestation_event", sa.String(length=64), nullable=True),
        sa.Column("attestation_org_id", sa.String(length=36), nullable=True),
        sa.Column("view", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column(
            "conditions_met_at",
            sa.DateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=64), nullable=True),
        sa.Column("release_receipt", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["beneficiary_org_id"],
            ["organizations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
        ),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organizations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_agreements_beneficiary_state", ["beneficiary_org_id", "state"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_agreements_dataset_id"), ["dataset_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreements_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_agreements_owner_org_id"), ["owner_org_id"], unique=False
        )

    op.create_table(
        "agreement_attestations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("agreement_id", sa.String(length=36), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("agreement_attestations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agreement_attestations_agreement_id"), ["agreement_id"], unique=False
        )

    op.create_table(
        "agreement_decisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("agreement_id", sa.String(length=36), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("approver", sa.String(length=120), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("agreement_id", "principal_id"),
    )
    with op.batch_alter_table("agreement_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agreement_decisions_agreement_id"), ["agreement_id"], unique=False
        )

    op.create_table(
        "agreement_parties",
        sa.Column("agreement_id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
        ),
        sa.PrimaryKeyConstraint("agreement_id", "org_id", "role"),
    )
    with op.batch_alter_table("agreement_parties", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agreement_parties_org_id"), ["org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agreement_parties", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_parties_org_id"))

    op.drop_table("agreement_parties")
    with op.batch_alter_table("agreement_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_decisions_agreement_id"))

    op.drop_table("agreement_decisions")
    with op.batch_alter_table("agreement_attestations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_attestations_agreement_id"))

    op.drop_table("agreement_attestations")
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreements_owner_org_id"))
        batch_op.drop_index(batch_op.f("ix_agreements_expires_at"))
        batch_op.drop_index(batch_op.f("ix_agreements_dataset_id"))
        batch_op.drop_index("ix_agreements_beneficiary_state")

    op.drop_table("agreements")
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_index("ix_datasets_owner_page")
