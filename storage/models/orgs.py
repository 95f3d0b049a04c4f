"""Organizations, the partnerships between them, and their principals (users, services)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import ID, Base


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Partnership(Base):
    __tablename__ = "partnerships"
    __table_args__ = (
        UniqueConstraint("org_a_id", "org_b_id", "kind"),
        CheckConstraint("org_a_id < org_b_id", name="ordered_pair"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_a_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    org_b_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class Principal(Base):
    __tablename__ = "principals"
    __table_args__ = (UniqueConstraint("org_id", "kind", "name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # "user" | "service"
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    roles: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
