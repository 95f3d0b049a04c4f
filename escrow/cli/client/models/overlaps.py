"""Population, sharing and overlap bodies."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from escrow.cli.client.models import Name, Request

FieldName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Level = Annotated[str, msgspec.Meta(max_length=20)]
Fields = Annotated[list[FieldName], msgspec.Meta(max_length=1024)]


class MatchIn(Request):
    field: FieldName
    normalize: Annotated[str, msgspec.Meta(max_length=20)]


class SharingIn(Request):
    level: Level
    fields: Fields = msgspec.field(default_factory=list)  # required for overlaps and all


class PopulationCreate(Request):
    name: Name
    match: MatchIn
    where: dict[str, Any] | None = None
    sharing: SharingIn = msgspec.field(default_factory=lambda: SharingIn(level="hidden"))


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


class PopulationOut(msgspec.Struct):
    id: str
    name: str
    dataset_id: str
    match: MatchOut
    where: dict[str, Any] | None
    sharing: SharingOut
    overrides: list[PartnerSharingOut]


class MinePopulationOut(msgspec.Struct):
    id: str
    name: str
    size: int


class TheirPopulationOut(msgspec.Struct):
    id: str
    name: str


class CellOut(msgspec.Struct):
    mine: MinePopulationOut
    theirs: TheirPopulationOut
    level: str
    count: int


class OverlapsOut(msgspec.Struct):
    partner: str
    cells: list[CellOut]


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
    counts: list[int]
    records: int
    fields: list[str]
    events: list[int]


class DisclosuresOut(msgspec.Struct):
    partner: str
    items: list[DisclosureOut]
