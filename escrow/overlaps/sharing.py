"""Sharing levels: what a population reveals to one partner, after policy ceilings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from escrow.errors import ValidationError
from storage.models import Population, PopulationSharing

LEVELS: Final = ("hidden", "counts", "overlaps", "all")
WITH_FIELDS: Final = frozenset({"overlaps", "all"})


@dataclass(frozen=True)
class Sharing:
    level: str
    fields: tuple[str, ...]

    def at_least(self, level: str) -> bool:
        return LEVELS.index(self.level) >= LEVELS.index(level)


def validate_sharing(
    level: str, fields: list[str] | None, schema: dict[str, Any], prefix: str = "sharing"
) -> Sharing:
    """Fields are required for overlaps and all and must be fields of the schema."""
    if level not in LEVELS:
        raise ValidationError(f"level must be one of {', '.join(LEVELS)}", field=f"{prefix}.level")
    if level not in WITH_FIELDS:
        if fields:
            raise ValidationError(
                f"level {level!r} reveals no fields: leave fields out", field=f"{prefix}.fields"
            )
        return Sharing(level, ())
    known = {field["name"] for field in schema["fields"]}
    if not fields or len(set(fields)) != len(fields):
        raise ValidationError(
            f"level {level!r} needs distinct fields of the dataset's schema",
            field=f"{prefix}.fields",
        )
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValidationError(
            f"{prefix}.fields names fields not in the dataset's schema: {', '.join(unknown)}",
            field=f"{prefix}.fields",
            unknown=unknown,
        )
    return Sharing(level, tuple(fields))


def configured(population: Population, override: PopulationSharing | None) -> Sharing:
    """The level the owner set toward a partner: its override, else the default."""
    if override is not None:
        return Sharing(override.level, tuple(override.fields))
    return Sharing(population.default_level, tuple(population.default_fields))


def capped(sharing: Sharing, ceiling: str) -> Sharing:
    """``sharing`` lowered to ``ceiling`` (fields go with a level that reveals none)."""
    if LEVELS.index(sharing.level) <= LEVELS.index(ceiling):
        return sharing
    return Sharing(ceiling, sharing.fields if ceiling in WITH_FIELDS else ())
