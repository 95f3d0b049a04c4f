"""HTTP for overlaps: populations, sharing levels, overlap counts, records and disclosures."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Router, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from escrow.overlaps.disclosures import DisclosureService
from escrow.overlaps.reading import OverlapService, Record
from escrow.overlaps.schemas import (
    DisclosureOut,
    DisclosuresOut,
    GreenfieldOut,
    GreenfieldRecordOut,
    OverlapsOut,
    PartnerSharingOut,
    PopulationCreate,
    PopulationOut,
    PopulationPatch,
    RecordOut,
    RecordsOut,
    SharingIn,
    TheirPopulationOut,
)
from escrow.overlaps.service import UNSET, PopulationService
from escrow.paging import DEFAULT_PAGE_SIZE
from escrow.params import Cursor, Limit
from escrow.schemas import PageOut

Populations = NamedDependency[PopulationService]

Slug = Annotated[str, QueryParameter(min_length=1, max_length=63, description="Partner slug.")]
PopulationId = Annotated[str, QueryParameter(min_length=1, max_length=64)]
Overlaps = NamedDependency[OverlapService]
Disclosures = NamedDependency[DisclosureService]


def _sharing(data: SharingIn) -> tuple[str, list[str] | None]:
    return data.level, list(data.fields) or None


class DatasetPopulationController(Controller):
    path = "/v1/datasets/{dataset_id:str}/populations"
    tags = ("overlaps",)

    @post("/", sync_to_thread=True, summary="Define a population of a tabular dataset (stewards)")
    def create(
        self, dataset_id: FromPath[str], data: JSONBody[PopulationCreate], populations: Populations
    ) -> PopulationOut:
        population = populations.create(
            dataset_id,
            data.name,
            (data.match.field, data.match.normalize),
            data.where,
            _sharing(data.sharing),
        )
        return PopulationOut.of(population)

    @get("/", sync_to_thread=True, summary="The dataset's populations (owner members)")
    def list_of_dataset(
        self,
        dataset_id: FromPath[str],
        populations: Populations,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> PageOut[PopulationOut]:
        page = populations.list_own(dataset_id, cursor, limit)
        return PageOut([PopulationOut.of(p) for p in page.items], page.next_cursor)


class PopulationController(Controller):
    path = "/v1/populations"
    tags = ("overlaps",)

    @get("/", sync_to_thread=True, summary="Your organization's populations")
    def list_own(
        self, populations: Populations, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> PageOut[PopulationOut]:
        page = populations.list_own(None, cursor, limit)
        return PageOut([PopulationOut.of(p) for p in page.items], page.next_cursor)

    @get("/{population_id:str}", sync_to_thread=True, summary="Read a population")
    def read(self, population_id: FromPath[str], populations: Populations) -> PopulationOut:
        return PopulationOut.of(populations.get(population_id))

    @patch("/{population_id:str}", sync_to_thread=True, summary="Change a population (stewards)")
    def update(
        self,
        population_id: FromPath[str],
        data: JSONBody[PopulationPatch],
        populations: Populations,
    ) -> PopulationOut:
        changes: dict[str, Any] = {
            "name": UNSET if data.name is msgspec.UNSET else data.name,
            "where": UNSET if data.where is msgspec.UNSET else data.where,
            "match": UNSET
            if data.match is msgspec.UNSET
            else (data.match.field, data.match.normalize),
            "sharing": UNSET if data.sharing is msgspec.UNSET else _sharing(data.sharing),
        }
        return PopulationOut.of(populations.update(population_id, changes))

    @delete("/{population_id:str}", sync_to_thread=True, summary="Delete a population (stewards)")
    def remove(self, population_id: FromPath[str], populations: Populations) -> None:
        populations.delete(population_id)

    @put(
        "/{population_id:str}/sharing/{partner:str}",
        sync_to_thread=True,
        summary="Set the population's sharing level toward one partner",
    )
    def set_sharing(
        self,
        population_id: FromPath[str],
        partner: FromPath[str],
        data: JSONBody[SharingIn],
        populations: Populations,
    ) -> PartnerSharingOut:
        service = populations
        return PartnerSharingOut.of(service.set_sharing(population_id, partner, *_sharing(data)))

    @delete(
        "/{population_id:str}/sharing/{partner:str}",
        sync_to_thread=True,
        summary="Back to the default level toward one partner",
    )
    def clear_sharing(
        self, population_id: FromPath[str], partner: FromPath[str], populations: Populations
    ) -> None:
        populations.clear_sharing(population_id, partner)


class OverlapController(Controller):
    path = "/v1/overlaps"
    tags = ("overlaps",)

    @get("/", sync_to_thread=True, summary="Overlap counts with a partner, per pair of populations")
    def counts(self, partner: Slug, overlaps: Overlaps) -> OverlapsOut:
        return OverlapsOut.of(overlaps.counts(partner))

    @get("/records", sync_to_thread=True, summary="The overlapping records of two populations")
    def records(
        self,
        partner: Slug,
        mine: PopulationId,
        theirs: PopulationId,
        overlaps: Overlaps,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> RecordsOut:
        items, next_cursor = overlaps.records(partner, mine, theirs, cursor, limit)
        return RecordsOut([_record(r) for r in items], next_cursor)

    @get("/greenfield", sync_to_thread=True, summary="A partner's records in none of yours")
    def greenfield(
        self,
        partner: Slug,
        theirs: PopulationId,
        overlaps: Overlaps,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> GreenfieldOut:
        items, next_cursor = overlaps.greenfield(partner, theirs, cursor, limit)
        return GreenfieldOut([GreenfieldRecordOut(r.theirs) for r in items], next_cursor)

    @get("/disclosures", sync_to_thread=True, summary="What a partner has been shown of your data")
    def disclosures(
        self,
        partner: Slug,
        disclosures: Disclosures,
        period: Annotated[str, QueryParameter(max_length=8)] = "day",
    ) -> DisclosuresOut:
        lines = disclosures.ledger(partner, period)
        return DisclosuresOut(
            partner,
            [
                DisclosureOut(
                    TheirPopulationOut(d.population_id, d.population_name),
                    d.period,
                    d.reads,
                    sorted(d.counts),
                    d.records,
                    sorted(d.fields),
                    d.events,
                )
                for d in lines
            ],
        )


def _record(record: Record) -> RecordOut:
    return RecordOut(record.key or "", record.mine or {}, record.theirs)


overlaps_router = Router(
    path="/",
    route_handlers=[DatasetPopulationController, PopulationController, OverlapController],
)
