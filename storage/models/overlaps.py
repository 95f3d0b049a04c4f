"""Overlaps: populations, their sharing toward partners, and the last counts notified."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import ID, Base


class Population(Base):
    """A named segment of an organization's tabular dataset for overlaps (DESIGN section 11).

    ``revision`` grows with every change of the match or the predicate, so that overlap
    results computed for an older revision are never served for a newer one.
    """

    __tablename__ = "populations"
    __table_args__ = (
        UniqueConstraint("dataset_id", "name"),
        Index("ix_populations_org_page", "org_id", "id"),
        CheckConstraint(
            "default_level IN ('hidden', 'counts', 'overlaps', 'all')", name="population_level"
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    match_field: Mapped[str] = mapped_column(String(200))
    normalizer: Mapped[str] = mapped_column(String(20))
    where: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    default_level: Mapped[str] = mapped_column(String(20))
    default_fields: Mapped[list[str]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(ID)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PopulationSharing(Base):
    """A population's sharing level toward one partner, overriding its default."""

    __tablename__ = "population_sharing"
    __table_args__ = (
        CheckConstraint(
            "level IN ('hidden', 'counts', 'overlaps', 'all')", name="population_sharing_level"
        ),
    )

    population_id: Mapped[str] = mapped_column(ForeignKey("populations.id"), primary_key=True)
    partner_org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), primary_key=True)
    level: Mapped[str] = mapped_column(String(20))
    fields: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[datetime]


class OverlapNotice(Base):
    """The last overlap count an organization could see for a pair of populations, as a keyed
    digest (never the count itself): ``overlaps.changed`` is sent when it changes."""

    __tablename__ = "overlap_notices"

    viewer_org_id: Mapped[str] = mapped_column(ID, primary_key=True)
    mine_id: Mapped[str] = mapped_column(ID, primary_key=True)
    theirs_id: Mapped[str] = mapped_column(ID, primary_key=True)
    count_digest: Mapped[str] = mapped_column(String(80))
    theirs_version_id: Mapped[str] = mapped_column(ID)  # the partner's version it counts
    updated_at: Mapped[datetime]
