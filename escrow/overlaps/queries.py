"""The overlap feature's database reads: populations, sharing overrides, partnerships."""

from __future__ import annotations

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from escrow.errors import NotFoundError
from storage.models import (
    Dataset,
    DatasetVersion,
    Organization,
    Partnership,
    Population,
    PopulationSharing,
)


def find_population(session: Session, population_id: str) -> Population:
    population = session.get(Population, population_id)
    if population is None:
        raise NotFoundError(f"no population {population_id!r}")
    return population


def populations_page(
    org_id: str, dataset_id: str | None, after: str | None, limit: int
) -> Select[tuple[Population]]:
    query = select(Population).where(Population.org_id == org_id)
    if dataset_id is not None:
        query = query.where(Population.dataset_id == dataset_id)
    if after is not None:
        query = query.where(Population.id > after)
    return query.order_by(Population.id).limit(limit + 1)


def overrides_of(
    session: Session, population_ids: list[str]
) -> dict[str, dict[str, PopulationSharing]]:
    """Population id -> partner org id -> its override."""
    found: dict[str, dict[str, PopulationSharing]] = {pid: {} for pid in population_ids}
    if not population_ids:
        return found
    rows = session.scalars(
        select(PopulationSharing).where(PopulationSharing.population_id.in_(population_ids))
    )
    for row in rows:
        found[row.population_id][row.partner_org_id] = row
    return found


def active_partnership(session: Session, org_x: str, org_y: str) -> Partnership | None:
    a, b = sorted((org_x, org_y))
    return session.scalar(
        select(Partnership)
        .where(Partnership.org_a_id == a, Partnership.org_b_id == b, Partnership.status == "active")
        .order_by(Partnership.id)
        .limit(1)
    )


def any_partnership(session: Session, org_x: str, org_y: str) -> Partnership | None:
    """Active or ended: the disclosure ledger outlives the partnership."""
    a, b = sorted((org_x, org_y))
    return session.scalar(
        select(Partnership)
        .where(Partnership.org_a_id == a, Partnership.org_b_id == b)
        .order_by(Partnership.status, Partnership.id)
        .limit(1)
    )


def org_by_slug(session: Session, slug: str) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.slug == slug))


def live_populations(session: Session, org_id: str) -> list[tuple[Population, Dataset]]:
    """An organization's populations over active datasets, by name."""
    rows = session.execute(
        select(Population, Dataset)
        .join(Dataset, Dataset.id == Population.dataset_id)
        .where(Population.org_id == org_id, Dataset.status == "active")
        .order_by(Population.name, Population.id)
    ).tuples()
    return list(rows)


def latest_version(session: Session, dataset_id: str) -> DatasetVersion | None:
    """The newest version whose key still exists."""
    return session.scalar(
        select(DatasetVersion)
        .where(
            DatasetVersion.dataset_id == dataset_id,
            DatasetVersion.wrapped_dek.is_not(None),
            or_(DatasetVersion.shredded_at.is_(None)),
        )
        .order_by(DatasetVersion.number.desc())
        .limit(1)
    )


def populations_of_dataset(session: Session, dataset_id: str) -> list[Population]:
    return list(session.scalars(select(Population).where(Population.dataset_id == dataset_id)))
