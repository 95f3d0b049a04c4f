"""The one predicate engine: a view's where tree, computed on whole Arrow columns.

A where tree is ``{"all"|"any": [node, ...]}`` or ``{"field", "op", "value"}`` with ops
``eq ne in lt le gt ge``. Each leaf means what ``tabular.values`` says one value at a time: the
row's value and the predicate's value are both read as the field's schema type (a field the
schema does not list is a string); a value that does not read as the type, a missing field or a
null makes the leaf false, for every op, ``ne`` and ``in`` included, so that no filter lets a
row through it cannot judge; a predicate value that does not read as the type matches no row.

Columns may hold strings (CSV, JSON strings; parsed here) or Arrow types (Parquet, typed
reads). Arrow computes every value it can judge exactly; the few it cannot (integer literals
beyond 15 digits, ISO forms other than ``YYYY-MM-DD[THH:MM:SS]``, types Arrow cannot compare
exactly) are judged by ``tabular.values.matcher``, so the result equals the reference for
every value (property-tested against it). A field ``a.b`` that is no column is looked up in
struct columns (JSON objects).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, Final, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from tabular.errors import ViewError
from tabular.values import coerce, matcher

__all__ = ["RowFilter", "compile_filter", "parse_view", "where_fields"]

Batch: TypeAlias = Any  # a pyarrow RecordBatch or Table
_COMPARE: Final[dict[str, Callable[..., Any]]] = {
    "eq": pc.equal,
    "ne": pc.not_equal,
    "lt": pc.less,
    "le": pc.less_equal,
    "gt": pc.greater,
    "ge": pc.greater_equal,
}
OPS: Final = (*_COMPARE, "in")
# What str.strip() strips: Arrow's own whitespace class differs (U+001C-U+001F).
_PY_SPACE: Final = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
_DECIMAL: Final = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_LONG_INTEGER: Final = r"^[+-]?[0-9]{15,}$"  # beyond 15 digits a float64 is not exact
_DATE: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_DATETIME: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}$"
_EXACT_FLOAT_INT: Final = 2**53
_INT64: Final = range(-(2**63), 2**63)
_UTC: Final = pa.timestamp("us", tz="UTC")
_TYPED_KINDS: Final = frozenset({"integer", "number", "boolean", "date", "timestamp"})


def parse_view(view: Any) -> tuple[list[str] | None, Any]:
    """The view's (fields, where); fails closed on a shape ``validate_view`` would refuse."""
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
    where = view.get("where")
    if where is not None:
        _check(where)
    return fields, where


def where_fields(node: Any) -> set[str]:
    """The field names a where tree reads."""
    if not isinstance(node, dict):
        return set()
    if "field" in node:
        return {node["field"]} if isinstance(node["field"], str) else set()
    children = node.get("all", node.get("any"))
    return set().union(*map(where_fields, children)) if isinstance(children, list) else set()


def compile_filter(where: Any, types: dict[str, str]) -> RowFilter:
    """A row filter for a where tree, fields typed by ``types`` (name -> schema type)."""
    _check(where)
    return RowFilter(where, types)


class RowFilter:
    """Keeps the rows of Arrow batches that satisfy a where tree (``mask``/``apply``)."""

    def __init__(self, where: Any, types: dict[str, str]) -> None:
        self.where = where
        self.types = types
        self.fields = where_fields(where)

    def mask(self, batch: Batch) -> pa.BooleanArray:
        """True for the rows kept; never null."""
        return self.mask_columns(lambda name: column_of(batch, name), batch.num_rows)

    def mask_columns(
        self, column: Callable[[str], pa.Array | list[Any] | None], rows: int
    ) -> pa.BooleanArray:
        """The mask over columns looked up by name: Arrow arrays, or lists of Python values
        (JSON values of mixed types), None for a missing column."""
        mask = self._node(self.where, column, rows)
        if isinstance(mask, pa.ChunkedArray):
            mask = mask.combine_chunks()
        return mask

    def apply(self, batch: Batch) -> Batch:
        return batch.filter(self.mask(batch))

    def _node(self, node: dict[str, Any], lookup: Callable[[str], Any], rows: int) -> Any:
        if "field" not in node:
            combine, nodes = (pc.and_, node["all"]) if "all" in node else (pc.or_, node["any"])
            mask = self._node(nodes[0], lookup, rows)
            for child in nodes[1:]:
                mask = combine(mask, self._node(child, lookup, rows))
            return mask
        name = node["field"]
        column = lookup(name)
        kind = self.types.get(name, "string")
        if column is None:
            return _constant(False, rows)
        if isinstance(column, list):
            match = matcher(kind, node["op"], node["value"])
            return pa.array([match(value) for value in column], type=pa.bool_())
        return leaf_mask(kind, node["op"], node["value"], column)


def column_of(batch: Batch, name: str) -> pa.Array | None:
    """The column named ``name``, or the struct child at the dotted path; None if absent."""
    names = batch.schema.names
    if names.count(name) == 1:
        column = batch.column(name)
        return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if name in names or "." not in name:
        return None
    head, _, rest = name.partition(".")
    if names.count(head) != 1:
        return None
    column = batch.column(head)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    for part in rest.split("."):
        if not pa.types.is_struct(column.type) or column.type.get_field_index(part) < 0:
            return None
        column = pc.struct_field(column, part)
    return column


def leaf_mask(kind: str, op: str, value: Any, column: pa.Array) -> pa.BooleanArray:
    """Rows whose value satisfies ``op value`` read as ``kind``; never null."""
    match = matcher(kind, op, value)
    targets = _targets(kind, op, value)
    if not targets:
        return _constant(False, len(column))
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    try:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            mask, hard = _string_leaf(kind, op, targets, column)
            return _judge(mask, hard, column, match)
        if kind not in _TYPED_KINDS:  # only a string is a string
            return _constant(False, len(column))
        arrow = _arrow_form(kind, column, targets)
        if arrow is not None:
            return _compare(op, *arrow, targets)
    except (pa.ArrowException, ValueError, OverflowError):
        pass  # out of Arrow's range: the reference decides
    return _judge(_constant(False, len(column)), pc.is_valid(column), column, match)


def _targets(kind: str, op: str, value: Any) -> list[Any]:
    read = (coerce(kind, v) for v in (value if op == "in" else [value]))
    return [target for target in read if target is not None]


def _string_leaf(
    kind: str, op: str, targets: list[Any], column: pa.Array
) -> tuple[pa.Array, pa.Array]:
    """The mask for string values, and the rows Arrow cannot judge."""
    if kind not in _TYPED_KINDS:
        return _compare(op, column, column.type, targets), _constant(False, len(column))
    text = pc.utf8_trim(column, characters=_PY_SPACE)
    if kind == "boolean":
        lowered = pc.utf8_lower(text)
        flags = pc.if_else(
            pc.equal(lowered, "true"),
            True,
            pc.if_else(pc.equal(lowered, "false"), False, pa.scalar(None, pa.bool_())),
        )
        return _compare(op, flags, pa.bool_(), targets), _constant(False, len(column))
    if kind in ("integer", "number"):
        return _number_leaf(op, targets, text)
    return _time_leaf(kind, op, targets, text)


def _number_leaf(op: str, targets: list[Any], text: pa.Array) -> tuple[pa.Array, pa.Array]:
    if not all(type(t) is float or abs(t) <= _EXACT_FLOAT_INT for t in targets):
        return _constant(False, len(text)), pc.is_valid(text)  # huge targets: the reference
    decimal = pc.fill_null(pc.match_substring_regex(text, _DECIMAL), False)
    hard = pc.fill_null(pc.match_substring_regex(text, _LONG_INTEGER), False)
    easy = pc.and_(decimal, pc.invert(hard))
    numbers = pc.cast(pc.if_else(easy, text, pa.scalar(None, text.type)), pa.float64())
    numbers = pc.if_else(pc.is_finite(numbers), numbers, pa.scalar(None, pa.float64()))
    floats = [float(t) for t in targets]
    return _compare(op, numbers, pa.float64(), floats), hard


def _time_leaf(kind: str, op: str, targets: list[Any], text: pa.Array) -> tuple[pa.Array, pa.Array]:
    is_date = pc.fill_null(pc.match_substring_regex(text, _DATE), False)
    # Year 0 is no date to Python; strptime would read it.
    is_date = pc.and_(is_date, pc.invert(pc.fill_null(pc.starts_with(text, "0000"), False)))
    parsed = pc.strptime(text, format="%Y-%m-%d", unit="us", error_is_null=True)
    # strptime rolls 2024-02-30 over to March: only a round trip is a date.
    is_date = pc.and_(is_date, _same(pc.strftime(parsed, format="%Y-%m-%d"), text))
    if kind == "date":
        if not all(type(t) is date for t in targets):
            return _constant(False, len(text)), pc.is_valid(text)
        dates = pc.cast(pc.if_else(is_date, parsed, pa.scalar(None, parsed.type)), pa.date32())
        hard = pc.and_(pc.is_valid(text), pc.invert(is_date))
        return _compare(op, dates, pa.date32(), targets), hard
    is_time = pc.fill_null(pc.match_substring_regex(text, _DATETIME), False)
    is_time = pc.and_(is_time, pc.invert(pc.fill_null(pc.starts_with(text, "0000"), False)))
    spaced = pc.replace_substring(text, " ", "T")
    times = pc.strptime(spaced, format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=True)
    is_time = pc.and_(is_time, _same(pc.strftime(times, format="%Y-%m-%dT%H:%M:%S"), spaced))
    both = pc.if_else(is_time, times, pc.if_else(is_date, parsed, pa.scalar(None, parsed.type)))
    instants = pc.cast(both, _UTC)
    easy = pc.or_(is_date, is_time)
    return _compare(op, instants, _UTC, targets), pc.and_(pc.is_valid(text), pc.invert(easy))


def _judge(
    mask: pa.Array, hard: pa.Array, column: pa.Array, match: Callable[[Any], bool]
) -> pa.BooleanArray:
    """``mask``, with the ``hard`` rows judged by the reference, one value at a time."""
    if not pc.any(hard).as_py():
        return mask
    try:
        values = column.filter(hard).to_pylist()
    except (pa.ArrowException, ValueError, OverflowError):  # values Python cannot hold
        return pc.and_(mask, pc.invert(hard))
    results = pa.array([match(v) for v in values], type=pa.bool_())
    return pc.replace_with_mask(mask, hard, results)


def _compare(op: str, column: Any, arrow_type: pa.DataType, targets: Sequence[Any]) -> pa.Array:
    if op == "in":
        mask = pc.is_in(column, value_set=pa.array(list(targets), type=arrow_type))
    else:
        mask = _COMPARE[op](column, pa.scalar(targets[0], type=arrow_type))
    if pa.types.is_floating(column.type):  # NaN and infinities are no numbers: never match
        mask = pc.and_(mask, pc.is_finite(column))
    return pc.fill_null(mask, False)


def _arrow_form(
    kind: str, column: pa.Array, targets: list[Any]
) -> tuple[pa.Array, pa.DataType] | None:
    """A typed column cast so that Arrow compares it exactly as Python would, or None."""
    types, t = pa.types, column.type
    if kind in ("integer", "number"):
        return _numeric_form(column, targets)
    if kind == "boolean" and types.is_boolean(t):
        return column, t
    if kind == "date" and types.is_date32(t) and all(type(v) is date for v in targets):
        return column, t
    if kind == "timestamp" and types.is_timestamp(t):
        if not all(isinstance(v, datetime) for v in targets):
            return None
        # Python holds microseconds and fromisoformat truncates finer digits: floor
        # nanoseconds likewise; seconds and milliseconds widen exactly.
        column = column.cast(pa.timestamp(t.unit, tz="UTC"))
        if t.unit == "ns":
            column = pc.floor_temporal(column, unit="microsecond")
        return column.cast(_UTC), _UTC
    return None


def _numeric_form(column: pa.Array, targets: list[Any]) -> tuple[pa.Array, pa.DataType] | None:
    types, t = pa.types, column.type
    if types.is_signed_integer(t) or t in (pa.uint8(), pa.uint16(), pa.uint32()):
        if any(type(v) is float for v in targets):
            if not all(v.is_integer() for v in targets if type(v) is float):
                return None  # 2 < 2.5 on integers: leave it to the reference
            targets[:] = [int(v) for v in targets]
        if not all(v in _INT64 for v in targets):
            return None
        return column.cast(pa.int64()), pa.int64()
    if types.is_floating(t) and all(
        type(v) is float or abs(v) <= _EXACT_FLOAT_INT for v in targets
    ):
        return column.cast(pa.float64()), pa.float64()
    return None


def _same(left: Any, right: Any) -> Any:
    return pc.fill_null(pc.equal(left, right), False)


def _constant(value: bool, length: int) -> pa.BooleanArray:
    return pc.fill_null(pa.nulls(length, pa.bool_()), value)


def _check(node: Any, depth: int = 0) -> None:
    """Fails closed on a tree that is not ``{"all"|"any": [...]}`` or a leaf."""
    if not isinstance(node, dict) or depth > 64:
        raise ViewError("the view's row filter is not valid")
    if set(node) in ({"all"}, {"any"}):
        children = node.get("all", node.get("any"))
        if not isinstance(children, list) or not children:
            raise ViewError("the view's row filter is not valid")
        for child in children:
            _check(child, depth + 1)
        return
    if set(node) != {"field", "op", "value"} or not isinstance(node["field"], str):
        raise ViewError("the view's row filter is not valid")
    if node["op"] not in OPS or (node["op"] == "in" and not isinstance(node["value"], list)):
        raise ViewError("the view's row filter is not valid")
