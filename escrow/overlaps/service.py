"""Population use cases: stewards segment their tabular datasets and set sharing levels."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from escrow.audit.log import AuditRecord
from escrow.datasets.queries import as_resource as dataset_resource
from escrow.datasets.queries import find_dataset
from escrow.errors import ConflictError, InvalidStateError, NotFoundError, ValidationError
from escrow.guard import Target
from escrow.orgs.queries import slugs_of
from escrow.overlaps.queries import (
    active_partnership,
    find_population,
    org_by_slug,
    overrides_of,
    populations_page,
)
from escrow.overlaps.results import PartnerSharing, PopulationRecord, population_of
from escrow.overlaps.sharing import Sharing, validate_sharing
from escrow.overlaps.tables import table_format
from escrow.paging import Page, decode_cursor, paginate
from escrow.service import Service
from storage.models import Dataset, Organization, Population, PopulationSharing
from tabular import InvalidViewError, validate_view
from tabular.normalize import NORMALIZERS

UNSET: Any = object()  # a PATCH member left out (routes map msgspec.UNSET to this)


class PopulationService(Service):
    def create(
        self,
        dataset_id: str,
        name: str,
        match: tuple[str, str],
        where: dict[str, Any] | None,
        sharing: tuple[str, list[str] | None],
    ) -> PopulationRecord:
        dataset = self._dataset(dataset_id, "manage_populations")
        schema = _tabular_schema(dataset)
        field, normalizer = _validate_match(match, schema)
        default = validate_sharing(sharing[0], sharing[1], schema)
        now = self.deps.clock.now()
        population = Population(
            id=self.deps.new_id(),
            org_id=dataset.owner_org_id,
            dataset_id=dataset.id,
            name=name,
            match_field=field,
            normalizer=normalizer,
            where=_validate_where(where, schema),
            default_level=default.level,
            default_fields=list(default.fields),
            revision=1,
            created_by=self.ctx.principal.id,
            created_at=now,
            updated_at=now,
        )
        self.session.add(population)
        self._flush_unique(name)
        self._record("population.create", population)
        return population_of(population, ())  # a new population has no overrides yet

    def list_own(self, dataset_id: str | None, cursor: str | None, limit: int) -> Page:
        """A page of the organization's ``PopulationRecord``s (of one dataset, if named)."""
        org_id = self.ctx.principal.org_id
        if dataset_id is not None:
            self._dataset(dataset_id, "read")
        query = populations_page(org_id, dataset_id, decode_cursor(cursor), limit)
        page = paginate(list(self.session.scalars(query)), limit)
        return Page(self._records(page.items), page.next_cursor)

    def get(self, population_id: str) -> PopulationRecord:
        population = self._population(population_id, "read")
        return self._records([population])[0]

    def update(self, population_id: str, changes: dict[str, Any]) -> PopulationRecord:
        population = self._population(population_id, "manage_populations")
        schema = _tabular_schema(find_dataset(self.session, population.dataset_id))
        if changes.get("match", UNSET) is not UNSET:
            field, normalizer = _validate_match(changes["match"], schema)
            population.match_field, population.normalizer = field, normalizer
            population.revision += 1
        if changes.get("where", UNSET) is not UNSET:
            population.where = _validate_where(changes["where"], schema)
            population.revision += 1
        if changes.get("sharing", UNSET) is not UNSET:
            level, fields = changes["sharing"]
            default = validate_sharing(level, fields, schema)
            population.default_level, population.default_fields = (
                default.level,
                list(default.fields),
            )
        if changes.get("name", UNSET) is not UNSET:
            population.name = changes["name"]
        population.updated_at = self.deps.clock.now()
        self._flush_unique(population.name)
        self._record("population.update", population, {"revision": population.revision})
        return self._records([population])[0]

    def delete(self, population_id: str) -> None:
        population = self._population(population_id, "manage_populations")
        self.session.execute(
            delete(PopulationSharing).where(PopulationSharing.population_id == population.id)
        )
        self.session.delete(population)
        self._record("population.delete", population)

    def set_sharing(
        self, population_id: str, partner_slug: str, level: str, fields: list[str] | None
    ) -> PartnerSharing:
        population = self._population(population_id, "manage_populations")
        partner = self._partner(partner_slug)
        schema = _tabular_schema(find_dataset(self.session, population.dataset_id))
        sharing = validate_sharing(level, fields, schema, prefix="")
        row = self.session.get(PopulationSharing, (population.id, partner.id))
        if row is None:
            row = PopulationSharing(population_id=population.id, partner_org_id=partner.id)
            self.session.add(row)
        row.level, row.fields = sharing.level, list(sharing.fields)
        row.updated_at = self.deps.clock.now()
        details = {"partner": partner.slug, "level": sharing.level, "fields": row.fields}
        self._record("population.sharing.set", population, details, partner.id)
        return PartnerSharing(partner.slug, sharing)

    def clear_sharing(self, population_id: str, partner_slug: str) -> None:
        population = self._population(population_id, "manage_populations")
        partner = self._partner(partner_slug)
        self.session.execute(
            delete(PopulationSharing).where(
                PopulationSharing.population_id == population.id,
                PopulationSharing.partner_org_id == partner.id,
            )
        )
        self._record("population.sharing.clear", population, {"partner": partner.slug}, partner.id)

    # ------------------------------------------------------------------ internals

    def _dataset(self, dataset_id: str, action: str) -> Dataset:
        """The dataset, if the caller may ``action`` it; 404 to anyone who may not read it."""
        dataset = find_dataset(self.session, dataset_id)
        resource = dataset_resource(self.session, dataset)
        owner_only = self.ctx.principal.org_id == dataset.owner_org_id
        self.guard.require(
            self.session,
            self.ctx,
            action,
            resource,
            Target("dataset", dataset.id, (dataset.owner_org_id,)),
            conceal=not owner_only or not self.guard.allows(self.ctx, "read", resource),
        )
        if action != "read" and dataset.status != "active":
            raise InvalidStateError(f"dataset is {dataset.status}, not active")
        return dataset

    def _population(self, population_id: str, action: str) -> Population:
        """Only the owner organization knows its populations: everyone else gets 404."""
        population = find_population(self.session, population_id)
        if population.org_id != self.ctx.principal.org_id:
            raise NotFoundError(f"no population {population_id!r}")
        dataset = self._dataset(population.dataset_id, action)
        del dataset
        return population

    def _partner(self, slug: str) -> Organization:
        org = org_by_slug(self.session, slug)
        me = self.ctx.principal.org_id
        if org is None or org.id == me or active_partnership(self.session, me, org.id) is None:
            raise NotFoundError(f"{slug!r} is not a partner of your organization")
        return org

    def _flush_unique(self, name: str) -> None:
        try:
            self.session.flush()
        except IntegrityError:
            self.session.rollback()
            raise ConflictError(f"the dataset already has a population named {name!r}") from None

    def _record(
        self,
        action: str,
        population: Population,
        details: dict[str, Any] | None = None,
        partner_id: str | None = None,
    ) -> None:
        orgs = (population.org_id,) if partner_id is None else (population.org_id, partner_id)
        self.commit_with_event(
            AuditRecord(
                action,
                "success",
                "population",
                population.id,
                org_ids=orgs,
                details={"dataset_id": population.dataset_id, **(details or {})},
            )
        )

    def _records(self, populations: list[Population]) -> list[PopulationRecord]:
        """Their results with their per-partner overrides, read together for all of them."""
        overrides = overrides_of(self.session, [p.id for p in populations])
        partner_ids = {org for rows in overrides.values() for org in rows}
        slugs = slugs_of(self.session, partner_ids)
        return [
            population_of(
                p,
                tuple(
                    PartnerSharing(slugs[org], Sharing(row.level, tuple(row.fields)))
                    for org, row in sorted(overrides[p.id].items(), key=lambda i: slugs[i[0]])
                ),
            )
            for p in populations
        ]


def _tabular_schema(dataset: Dataset) -> dict[str, Any]:
    if table_format(dataset.media_type) is None:
        raise ValidationError(
            "populations need a tabular dataset (CSV, JSON Lines or Parquet)", field="dataset"
        )
    if dataset.schema is None:
        raise ValidationError(
            "the dataset has no schema yet: declare one or deposit a first version",
            field="dataset",
        )
    return dataset.schema


def _validate_match(match: tuple[str, str], schema: dict[str, Any]) -> tuple[str, str]:
    field, normalizer = match
    if normalizer not in NORMALIZERS:
        raise ValidationError(
            f"unsupported normalizer {normalizer!r}: one of {', '.join(NORMALIZERS)}",
            field="match.normalize",
        )
    known = {f["name"] for f in schema["fields"]}
    if field not in known:
        raise ValidationError(
            f"match.field names {field!r}, not a field of the dataset's schema",
            field="match.field",
            unknown=[field],
        )
    return field, normalizer


def _validate_where(where: dict[str, Any] | None, schema: dict[str, Any]) -> dict[str, Any] | None:
    """The view predicate language, checked against this dataset's own schema."""
    try:
        view = validate_view({"fields": None, "where": where}, schema)
    except InvalidViewError as exc:
        detail = str(exc).replace("view.where", "where")
        raise ValidationError(
            detail, field="where", **{k: v for k, v in exc.extra.items() if k != "field"}
        ) from None
    return view["where"] if view else None
