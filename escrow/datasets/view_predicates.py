"""Row predicates of disclosure views: typed comparisons that fail closed.

A where tree is ``{"all"|"any": [node, ...]}`` or ``{"field", "op", "value"}`` with ops
``eq ne in lt le gt ge`` (``escrow.agreements.terms.validate_view`` checks its shape). Values
are typed by the dataset's recorded schema (a field it does not list is a string), and the
predicate's value is read the same way as the row's. A value that does not read as its type,
a missing field or JSON null makes the leaf false, for every op, ``ne`` and ``in`` included,
so that no filter lets through a row it cannot judge; a predicate value that does not read
as the type matches no row.
- string: exact strings only (a JSON number is not a string), compared by code point;
- integer, number: numbers (not booleans), or strings holding a decimal literal (``-1``,
  ``2.5e3``; ASCII digits, surrounding whitespace ignored; no NaN or infinity), compared
  exactly as numbers, integer and number alike;
- boolean: booleans, or "true"/"false" in any case (whitespace ignored); false < true;
- date: dates, or strings ``date.fromisoformat`` reads (ISO 8601 calendar dates);
- timestamp: datetimes or dates (a date is its midnight), or strings
  ``datetime.fromisoformat`` reads (ISO 8601), normalised to UTC, naive ones taken as UTC,
  and compared as instants: the lexicographic order of the normalised ISO form.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

__all__ = [
    "MISSING",
    "OPS",
    "Test",
    "ViewError",
    "coerce",
    "compile_where",
    "field_types",
    "parse_view",
    "value_matcher",
    "where_fields",
]

Test = Callable[[Any], bool]

OPS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}
MISSING: Final = object()  # what a getter returns for a field the row lacks
_INTEGER: Final = re.compile(r"[+-]?\d+", re.ASCII)
_DECIMAL: Final = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_BOOLEANS: Final = {"true": True, "false": False}


class ViewError(Exception):
    """The view cannot be applied; the download must be aborted. Messages carry no data."""


def parse_view(view: Any) -> tuple[list[str] | None, Any]:
    """The view's (fields, where); fails closed on a shape validate_view would refuse."""
    if not isinstance(view, dict) or not set(view) <= {"fields", "where"}:
        raise ViewError("the view is not valid")
    fields = view.get("fields")
    if fields is not None and (
        not isinstance(fields, list)
        or not fields
        or not all(isinstance(name, str) for name in fields)
        or len(set(fields)) != len(fields)
    ):
        raise ViewError("the view's fields are not valid")
    return fields, view.get("where")


def field_types(schema: dict[str, Any] | None) -> dict[str, str]:
    if schema is None:
        return {}
    try:
        return {field["name"]: field["type"] for field in schema["fields"]}
    except (KeyError, TypeError):
        raise ViewError("the dataset's schema is not valid") from None


def compile_where(
    node: Any, types: dict[str, str], getter: Callable[[str], Callable[[Any], Any] | None]
) -> Test:
    """A row test for a where tree; ``getter(name)`` reads a field from a row (None: absent)."""
    if not isinstance(node, dict):
        raise ViewError("the view's row filter is not valid")
    if set(node) in ({"all"}, {"any"}):
        children = node.get("all", node.get("any"))
        if not isinstance(children, list) or not children:
            raise ViewError("the view's row filter is not valid")
        tests = [compile_where(child, types, getter) for child in children]
        return _every(tests) if "all" in node else _some(tests)
    name = node.get("field")
    if set(node) != {"field", "op", "value"} or not isinstance(name, str):
        raise ViewError("the view's row filter is not valid")
    get = getter(name)
    test = value_matcher(types.get(name, "string"), node["op"], node["value"], get or _itself)
    return _never if get is None else test


def value_matcher(kind: str, op: str, value: Any, get: Callable[[Any], Any] | None = None) -> Test:
    """Whether ``get(row)`` (or the value itself) satisfies ``op value``, both read as ``kind``.

    Fails closed: false whenever either side does not read as ``kind``.
    """
    get = get or _itself
    read: Callable[[Any], Any] = _READERS.get(kind, _as_string)
    if op == "in":
        if not isinstance(value, list):
            raise ViewError("the view's row filter is not valid")
        wanted = frozenset(v for v in map(read, value) if v is not None)
        if not wanted:
            return _never
        if read is _as_string:  # inlined: the common case, and the hot loop
            return lambda row: type(raw := get(row)) is str and raw in wanted
        return lambda row: read(get(row)) in wanted
    compare = OPS.get(op)
    if compare is None:
        raise ViewError("the view's row filter is not valid")
    target = read(value)
    if target is None:
        return _never
    if read is _as_string and op == "eq":
        return lambda row: get(row) == target  # only a string equals a string
    if read is _as_string:
        return lambda row: type(raw := get(row)) is str and compare(raw, target)
    return lambda row: (typed := read(get(row))) is not None and compare(typed, target)


def _every(tests: list[Test]) -> Test:
    # Chained closures, not all(<generator>): this runs once per row.
    first, *rest = tests
    if not rest:
        return first
    others = _every(rest)
    return lambda row: first(row) and others(row)


def _some(tests: list[Test]) -> Test:
    first, *rest = tests
    if not rest:
        return first
    others = _some(rest)
    return lambda row: first(row) or others(row)


def _itself(value: Any) -> Any:
    return value


def coerce(kind: str, raw: Any) -> Any:
    """``raw`` read as a value of the schema type ``kind``, or None (see the module docstring)."""
    read: Callable[[Any], Any] = _READERS.get(kind, _as_string)
    return read(raw)


def _never(row: Any) -> bool:
    return False


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


def where_fields(node: Any) -> set[str]:
    """The field names a where tree reads."""
    if not isinstance(node, dict):
        return set()
    if "field" in node:
        return {node["field"]} if isinstance(node["field"], str) else set()
    children = node.get("all", node.get("any"))
    return set().union(*map(where_fields, children)) if isinstance(children, list) else set()
