"""Policy bundles: versions of the Polar policy with their tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import ID, Base


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
