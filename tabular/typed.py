"""Columns cast to their schema types: each value as ``tabular.values.coerce`` reads it.

``typed_batch(batch, types)`` gives every column named in ``types`` the Arrow type of its
schema type (``schema.arrow_type_for``); a value that does not read as the type becomes null.
Strings are parsed by Arrow where it reads them exactly (decimal literals, integers of up to
18 digits, ``YYYY-MM-DD[THH:MM:SS]``); other forms are read by the reference.
"""

from __future__ import annotations

from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from tabular.predicates import _PY_SPACE
from tabular.schema import arrow_type_for
from tabular.values import coerce

__all__ = ["typed_batch", "typed_column", "typed_values"]

_DECIMAL: Final = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_INTEGER: Final = r"^[+-]?[0-9]{1,18}$"
_DATE: Final = r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}$"
_DATETIME: Final = r"^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}$"


def typed_batch(batch: pa.RecordBatch, types: dict[str, str]) -> pa.RecordBatch:
    """The batch with each column of ``types`` in its schema type's Arrow type."""
    columns = [
        typed_column(types.get(name, "string"), batch.column(index))
        for index, name in enumerate(batch.schema.names)
    ]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def typed_values(kind: str, values: list[Any]) -> pa.Array:
    """Python values (JSON) read as ``kind``."""
    target = arrow_type_for(kind)
    read = [coerce(kind, value) for value in values]
    if kind == "integer":  # a number column of integers: beyond int64 or fractional is null
        read = [v if type(v) is int and -(2**63) <= v < 2**63 else None for v in read]
    elif kind == "number":
        read = [float(v) if v is not None else None for v in read]
    return pa.array(read, type=target)


def typed_column(kind: str, column: pa.Array) -> pa.Array:
    """``column`` in the Arrow type of ``kind``; values that do not read as it are null."""
    target = arrow_type_for(kind)
    if column.type == target:
        return column
    is_text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    if not is_text:
        try:
            return column.cast(target)
        except (pa.ArrowException, ValueError, OverflowError):
            return typed_values(kind, column.to_pylist())
    if kind == "string":
        return column.cast(target)
    text = pc.utf8_trim(column, characters=_PY_SPACE)
    easy, parsed = _parse(kind, text)
    hard = pc.and_(pc.is_valid(text), pc.invert(easy))
    if pc.any(hard).as_py():
        others = typed_values(kind, column.filter(hard).to_pylist())
        parsed = pc.replace_with_mask(parsed, hard, others)
    return parsed


def _parse(kind: str, text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """The values Arrow reads exactly (a mask) and the column with them parsed."""
    target = arrow_type_for(kind)
    none = pa.scalar(None, text.type)
    if kind in ("integer", "number"):
        pattern = _INTEGER if kind == "integer" else _DECIMAL
        easy = pc.fill_null(pc.match_substring_regex(text, pattern), False)
        if kind == "number":  # long integer literals are exact only in the reference
            long = pc.fill_null(pc.match_substring_regex(text, r"^[+-]?[0-9]{15,}$"), False)
            easy = pc.and_(easy, pc.invert(long))
        values = pc.cast(pc.if_else(easy, text, none), target)
        if kind == "number":
            values = pc.if_else(pc.is_finite(values), values, pa.scalar(None, target))
        return easy, values
    if kind == "boolean":
        lowered = pc.utf8_lower(text)
        flags = pc.if_else(
            pc.equal(lowered, "true"),
            True,
            pc.if_else(pc.equal(lowered, "false"), False, pa.scalar(None, pa.bool_())),
        )
        return pc.is_valid(text), flags
    is_date = pc.fill_null(pc.match_substring_regex(text, _DATE), False)
    dates = pc.strptime(text, format="%Y-%m-%d", unit="us", error_is_null=True)
    is_date = pc.and_(is_date, _same(pc.strftime(dates, format="%Y-%m-%d"), text))
    if kind == "date":
        return is_date, pc.cast(pc.if_else(is_date, dates, pa.scalar(None, dates.type)), target)
    is_time = pc.fill_null(pc.match_substring_regex(text, _DATETIME), False)
    spaced = pc.replace_substring(text, " ", "T")
    times = pc.strptime(spaced, format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=True)
    is_time = pc.and_(is_time, _same(pc.strftime(times, format="%Y-%m-%dT%H:%M:%S"), spaced))
    both = pc.if_else(is_time, times, pc.if_else(is_date, dates, pa.scalar(None, dates.type)))
    return pc.or_(is_date, is_time), pc.cast(both, target)


def _same(left: Any, right: Any) -> Any:
    """Equal and not null: strptime rolls 2024-02-30 over, only a round trip is exact."""
    return pc.fill_null(pc.equal(left, right), False)
