"""Population, sharing and overlap bodies (DESIGN section 11 shapes)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from escrow.overlaps.results import (
    OverlapCount,
    OverlapCounts,
    PartnerSharing,
    PopulationName,
    PopulationRecord,
)
from escrow.schemas import Input, Name

FieldName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Level = Annotated[
    str,
    msgspec.Meta(
        max_length=20, extra_json_schema={"enum": ["hidden", "counts", "overlaps", "all"]}
    ),
]
Fields = Annotated[list[FieldName], msgspec.Meta(max_length=1024)]


class MatchIn(Input):
    field: FieldName
    normalize: Annotated[
        str, msgspec.Meta(max_length=20, extra_json_schema={"enum": ["domain", "email", "text"]})
    ]


class SharingIn(Input):
    level: Level
    fields: Fields = msgspec.field(default_factory=list)  # required for overlaps and all


class PopulationCreate(Input):
    name: Name
    match: MatchIn
    where: dict[str, Any] | None = None
    sharing: SharingIn = msgspec.field(default_factory=lambda: SharingIn(level="hidden"))


class PopulationPatch(Input):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    match: MatchIn | msgspec.UnsetType = msgspec.UNSET
    where: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    sharing: SharingIn | msgspec.UnsetType = msgspec.UNSET


class MatchOut(msgspec.Struct):
    field: str
    normalize: str


class SharingOut(msgspec.Struct):
    level: str
    fields: list[str]


class PartnerSharingOut(msgspec.Struct):
    partner: str
    level: str
    fields: list[str]

    @classmethod
    def of(cls, shared: PartnerSharing) -> PartnerSharingOut:
        return cls(shared.partner, shared.sharing.level, list(shared.sharing.fields))


class PopulationOut(msgspec.Struct):
    id: str
    name: str
    dataset_id: str
    match: MatchOut
    where: dict[str, Any] | None
    sharing: SharingOut
    overrides: list[PartnerSharingOut]  # per-partner levels (PUT .../sharing/{partner})

    @classmethod
    def of(cls, population: PopulationRecord) -> PopulationOut:
        return cls(
            id=population.id,
            name=population.name,
            dataset_id=population.dataset_id,
            match=MatchOut(population.match_field, population.normalizer),
            where=population.where,
            sharing=SharingOut(population.sharing.level, list(population.sharing.fields)),
            overrides=[PartnerSharingOut.of(o) for o in population.overrides],
        )


class MinePopulationOut(msgspec.Struct):
    id: str
    name: str
    size: int


class TheirPopulationOut(msgspec.Struct):
    id: str
    name: str

    @classmethod
    def of(cls, population: PopulationName) -> TheirPopulationOut:
        return cls(population.id, population.name)


class CellOut(msgspec.Struct):
    mine: MinePopulationOut
    theirs: TheirPopulationOut
    level: str
    count: int

    @classmethod
    def of(cls, cell: OverlapCount) -> CellOut:
        return cls(
            MinePopulationOut(cell.mine.id, cell.mine.name, cell.mine_size),
            TheirPopulationOut.of(cell.theirs),
            cell.level,
            cell.count,
        )


class OverlapsOut(msgspec.Struct):
    partner: str
    cells: list[CellOut]

    @classmethod
    def of(cls, counts: OverlapCounts) -> OverlapsOut:
        return cls(counts.partner, [CellOut.of(c) for c in counts.cells])


class RecordOut(msgspec.Struct):
    key: str
    mine: dict[str, Any]
    theirs: dict[str, Any]


class RecordsOut(msgspec.Struct):
    items: list[RecordOut]
    next_cursor: str | None


class GreenfieldRecordOut(msgspec.Struct):
    theirs: dict[str, Any]


class GreenfieldOut(msgspec.Struct):
    items: list[GreenfieldRecordOut]
    next_cursor: str | None


class DisclosureOut(msgspec.Struct):
    population: TheirPopulationOut
    period: str
    reads: int
    counts: list[int]  # distinct overlap counts shown
    records: int  # overlapping and greenfield records shown
    fields: list[str]  # field names whose values were shown
    events: list[int]  # audit sequence numbers: GET /v1/audit/proofs/inclusion proves each


class DisclosuresOut(msgspec.Struct):
    partner: str
    items: list[DisclosureOut]
