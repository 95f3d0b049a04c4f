"""The reference semantics of a value read as a schema type (one value at a time).

Values are typed by the dataset's schema (a field it does not list is a string), and a
predicate's value is read the same way as the row's. ``coerce(kind, raw)`` is the value read as
``kind``, or None when it does not read as one:
- string: exact strings only (a JSON number is not a string), compared by code point;
- integer, number: numbers (not booleans), or strings holding a decimal literal (``-1``,
  ``2.5e3``; ASCII digits, surrounding whitespace ignored; no NaN or infinity), compared
  exactly as numbers, integer and number alike;
- boolean: booleans, or "true"/"false" in any case (whitespace ignored); false < true;
- date: dates, or strings ``date.fromisoformat`` reads (ISO 8601 calendar dates);
- timestamp: datetimes or dates (a date is its midnight), or strings
  ``datetime.fromisoformat`` reads (ISO 8601), normalised to UTC, naive ones taken as UTC,
  and compared as instants.

The predicate engine (``tabular.predicates``) computes the same results on whole Arrow
columns; it calls ``matcher`` only for the values Arrow cannot judge exactly.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

__all__ = ["COMPARISONS", "coerce", "matcher"]

COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
_INTEGER: Final = re.compile(r"[+-]?\d+", re.ASCII)
_DECIMAL: Final = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_BOOLEANS: Final = {"true": True, "false": False}


def coerce(kind: str, raw: Any) -> Any:
    """``raw`` read as a value of the schema type ``kind``, or None (see the module docstring)."""
    read: Callable[[Any], Any] = _READERS.get(kind, _as_string)
    return read(raw)


def matcher(kind: str, op: str, value: Any) -> Callable[[Any], bool]:
    """Whether a raw value satisfies ``op value``, both read as ``kind``.

    Fails closed: false whenever either side does not read as ``kind``.
    """
    read: Callable[[Any], Any] = _READERS.get(kind, _as_string)
    if op == "in":
        wanted = frozenset(v for v in map(read, value) if v is not None)
        return lambda raw: (typed := read(raw)) is not None and typed in wanted
    compare = COMPARISONS[op]
    target = read(value)
    if target is None:
        return lambda raw: False
    return lambda raw: (typed := read(raw)) is not None and compare(typed, target)


def _as_string(raw: Any) -> str | None:
    return raw if type(raw) is str else None


def _as_number(raw: Any) -> int | float | Decimal | None:
    kind = type(raw)
    if kind is str:
        text = raw.strip()
        try:
            if _INTEGER.fullmatch(text):
                return int(text)
            number = float(text) if _DECIMAL.fullmatch(text) else math.nan
        except ValueError:  # an integer of more than 4300 digits
            return None
        return number if math.isfinite(number) else None
    if kind is int or kind is float or kind is Decimal:  # Parquet decimals are Decimal
        exact: int | float | Decimal = raw
        return exact if kind is int or math.isfinite(exact) else None
    return None


def _as_boolean(raw: Any) -> bool | None:
    if type(raw) is bool:
        return raw
    return _BOOLEANS.get(raw.strip().lower()) if type(raw) is str else None


def _as_date(raw: Any) -> date | None:
    if type(raw) is date:
        return raw
    if type(raw) is not str:
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        return None


def _as_timestamp(raw: Any) -> datetime | None:
    try:
        if type(raw) is str:
            raw = datetime.fromisoformat(raw.strip())
        elif type(raw) is date:
            raw = datetime(raw.year, raw.month, raw.day)
        if not isinstance(raw, datetime):
            return None
        return raw.replace(tzinfo=UTC) if raw.tzinfo is None else raw.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


_READERS: Final[dict[str, Callable[[Any], Any]]] = {
    "string": _as_string,
    "integer": _as_number,
    "number": _as_number,
    "boolean": _as_boolean,
    "date": _as_date,
    "timestamp": _as_timestamp,
}
