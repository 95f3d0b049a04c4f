"""audit Merkle tree: subtree roots, head compact range, checkpoints, sensitive plaintexts

Builds the tree over every event recorded since the foundation, in sequence order.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

from crypto import CompactRange, leaf_hash

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("compact", sa.LargeBinary(), nullable=True))
    nodes = op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("previous_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("tree_size > previous_size", name="grows"),
        sa.PrimaryKeyConstraint("tree_size"),
        sa.UniqueConstraint("previous_size"),
    )
    op.create_table(
        "audit_secrets",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=80), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["seq"], ["audit_events.seq"]),
        sa.PrimaryKeyConstraint("seq", "name"),
    )
    with op.batch_alter_table("audit_secrets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_secrets_digest"), ["digest"], unique=False)
    _build_tree(nodes)


def _build_tree(nodes: sa.Table) -> None:
    """Hashes the existing events (gap-free from 0, as audit_head says) into audit_nodes,
    and leaves the compact range the next append extends in audit_head."""
    bind = op.get_bind()
    size = bind.execute(sa.text("SELECT size FROM audit_head WHERE id = 1")).scalar_one()
    tree = CompactRange()
    batch: list[dict[str, object]] = []
    for seq, entry in _events(bind):
        if seq != tree.size:
            raise RuntimeError(f"audit_events has a gap: expected seq {tree.size}, found {seq}")
        for node, digest in tree.append(leaf_hash(entry.encode("utf-8"))):
            batch.append({"level": node.level, "idx": node.index, "hash": digest})
        if len(batch) >= _BATCH:
            op.bulk_insert(nodes, batch)
            batch = []
    if batch:
        op.bulk_insert(nodes, batch)
    if tree.size != size:
        raise RuntimeError(f"audit_head says {size} events but audit_events holds {tree.size}")
    bind.execute(
        sa.text("UPDATE audit_head SET compact = :compact WHERE id = 1"),
        {"compact": b"".join(tree.roots) or None},
    )


def _events(bind: sa.Connection) -> Iterator[tuple[int, str]]:
    after = -1
    while True:
        rows = bind.execute(
            sa.text("SELECT seq, entry FROM audit_events WHERE seq > :after ORDER BY seq LIMIT :n"),
            {"after": after, "n": _BATCH},
        ).all()
        if not rows:
            return
        for seq, entry in rows:
            yield int(seq), str(entry)
        after = int(rows[-1][0])


def downgrade() -> None:
    with op.batch_alter_table("audit_secrets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_secrets_digest"))
    op.drop_table("audit_secrets")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_nodes")
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("compact")
