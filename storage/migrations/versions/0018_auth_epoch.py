"""auth epoch: a counter every change to who a token belongs to moves

Processes remember the owner of a verified access token until the epoch moves (escrow/auth/
cache.py). Triggers bump it in the transaction of the change, so a reader sees the new value
exactly when it can see the change: a key revoked, expiring or moved; a principal's status,
roles, kind or organization; an organization's status or slug; a token revoked; a row of
these deleted. ``api_keys.last_used_at`` (written at every token exchange) does not move it.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# table -> the columns whose update changes a token's owner
WATCHED = {
    "api_keys": ("revoked_at", "expires_at", "principal_id"),
    "principals": ("status", "roles", "kind", "org_id"),
    "organizations": ("status", "slug"),
    "revoked_tokens": (),  # inserts and deletes only
}
BUMP = "UPDATE auth_epoch SET value = value + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "auth_epoch",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="one_row"),
    )
    op.execute("INSERT INTO auth_epoch (id, value) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION bump_auth_epoch() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for table in WATCHED:
            events = " OR ".join(_events(table).values())
            op.execute(
                f"CREATE TRIGGER {table}_auth_epoch AFTER {events} ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bump_auth_epoch()"
            )
        return
    for table in WATCHED:  # SQLite: one trigger per event, row by row
        for name, event in _events(table).items():
            op.execute(
                f"CREATE TRIGGER {table}_auth_epoch_{name} AFTER {event} ON {table} "
                f"BEGIN {BUMP}; END"
            )


def _events(table: str) -> dict[str, str]:
    """The trigger events of a watched table, by a name for each."""
    columns = WATCHED[table]
    if not columns:
        return {"insert": "INSERT", "delete": "DELETE"}
    return {"update": f"UPDATE OF {', '.join(columns)}", "delete": "DELETE"}


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_auth_epoch ON {table}")
        op.execute("DROP FUNCTION bump_auth_epoch()")
    else:
        for table in WATCHED:
            for name in _events(table):
                op.execute(f"DROP TRIGGER {table}_auth_epoch_{name}")
    op.drop_table("auth_epoch")
