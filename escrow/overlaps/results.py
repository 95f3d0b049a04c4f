"""What the overlap use cases return: populations with their sharing levels, and overlap
counts with a partner.

Built inside the use case while its session is open (see escrow/orgs/results.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from escrow.overlaps.sharing import Sharing
from storage.models import Population


@dataclass(frozen=True, slots=True)
class PartnerSharing:
    """What a population reveals to one partner, set apart from its default level."""

    partner: str  # the partner organization's slug
    sharing: Sharing


@dataclass(frozen=True, slots=True)
class PopulationRecord:
    """A population as its owner organization sees it."""

    id: str
    name: str
    dataset_id: str
    match_field: str
    normalizer: str
    where: dict[str, Any] | None
    sharing: Sharing  # the default level toward every partner
    overrides: tuple[PartnerSharing, ...]  # by partner slug
    revision: int  # changes to the match or the predicate start a new one


@dataclass(frozen=True, slots=True)
class PopulationName:
    """A population as an overlap count names it."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class OverlapCount:
    """How many keys one of my populations shares with one of a partner's."""

    mine: PopulationName
    mine_size: int  # rows my population keeps; theirs is not told
    theirs: PopulationName
    level: str  # what theirs reveals to me
    count: int


@dataclass(frozen=True, slots=True)
class OverlapCounts:
    partner: str  # the partner organization's slug
    cells: tuple[OverlapCount, ...]


def population_of(row: Population, overrides: tuple[PartnerSharing, ...]) -> PopulationRecord:
    return PopulationRecord(
        id=row.id,
        name=row.name,
        dataset_id=row.dataset_id,
        match_field=row.match_field,
        normalizer=row.normalizer,
        where=row.where,
        sharing=Sharing(row.default_level, tuple(row.default_fields)),
        overrides=overrides,
        revision=row.revision,
    )
