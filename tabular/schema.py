"""Dataset schemas: ``{"fields": [{"name", "type"}]}`` with a type of ``FIELD_TYPES``.

Inference reads every value: a column's type is the first of integer, number, boolean, date,
timestamp that every non-empty value reads as (``tabular.values.coerce``), else string; a
column without a value is a string. CSV values are strings; JSON values keep their JSON type
(a JSON string is a string, a date or a timestamp; numbers integer or number; booleans
boolean); an Arrow-typed column (Parquet) has the type of its Arrow type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from tabular.errors import SchemaMismatchError

__all__ = [
    "FIELD_TYPES",
    "SchemaInference",
    "arrow_type_for",
    "check_schema",
    "field_type_of",
    "field_types",
    "schema_of_arrow",
]

FIELD_TYPES: Final = frozenset({"string", "integer", "number", "boolean", "date", "timestamp"})
_ORDER: Final = ("integer", "number", "boolean", "date", "timestamp", "string")
# A kind and the kinds a value of it also reads as.
_WIDER: Final[dict[str, frozenset[str]]] = {
    "integer": frozenset({"integer", "number"}),
    "number": frozenset({"number"}),
    "boolean": frozenset({"boolean"}),
    "date": frozenset({"date", "timestamp"}),
    "timestamp": frozenset({"timestamp"}),
    "string": frozenset({"string"}),
}
_BATCH: Final = 1 << 16
_STRING_ONLY: Final = {"string"}
# The strict forms of dates and timestamps: among values of the form ``_TIMESTAMP`` admits
# (trailing Z dropped, a space for T), those of this length; and the Arrow type their cast
# reads them as.
_STRICT: Final = {
    "%Y-%m-%d": (len("2024-01-31"), pa.date32()),
    "%Y-%m-%dT%H:%M:%S": (len("2024-01-31T12:00:00"), pa.timestamp("s")),
}
_INTEGER: Final = r"^[+-]?[0-9]+$"
_DECIMAL: Final = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_DATE: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_TIMESTAMP: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})?)?$"
)


def field_types(schema: dict[str, Any] | None) -> dict[str, str]:
    """name -> type of a schema (empty for None)."""
    if schema is None:
        return {}
    return {field["name"]: field["type"] for field in schema["fields"]}


def arrow_type_for(kind: str) -> pa.DataType:
    """The Arrow type a value of the schema type ``kind`` is held in."""
    return {
        "integer": pa.int64(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }.get(kind, pa.string())


def field_type_of(arrow_type: pa.DataType) -> str:
    """The schema type of an Arrow type (nested and binary types are strings)."""
    t, types = arrow_type, pa.types
    if types.is_dictionary(t):
        t = t.value_type
    if types.is_integer(t):
        return "integer"
    if types.is_floating(t) or types.is_decimal(t):
        return "number"
    if types.is_boolean(t):
        return "boolean"
    if types.is_date(t):
        return "date"
    if types.is_timestamp(t):
        return "timestamp"
    return "string"


def schema_of_arrow(schema: pa.Schema) -> dict[str, Any]:
    """A Parquet file's own schema, as a dataset schema."""
    return {"fields": [{"name": f.name, "type": field_type_of(f.type)} for f in schema]}


class SchemaInference:
    """Accumulates, column by column, the types every value seen so far reads as."""

    def __init__(self) -> None:
        self._feasible: dict[str, set[str]] = {}
        self._seen: set[str] = set()
        # CSV values not yet judged, per column, and how many
        self._pending: dict[str, list[pa.Array | Sequence[str]]] = {}
        self._pending_count: dict[str, int] = {}

    def add_strings(self, name: str, values: pa.Array | Sequence[str]) -> None:
        """CSV values of a column (empty and blank values carry no type). Values are judged
        in batches of ``_BATCH`` (Arrow calls cost per call, not per value); once a column
        has a value that reads only as a string, nothing more can change it."""
        if name in self._seen and self._feasible[name] == _STRING_ONLY:
            return
        self._pending.setdefault(name, []).append(values)
        count = self._pending_count[name] = self._pending_count.get(name, 0) + len(values)
        if count >= _BATCH:
            self._flush(name)

    def _flush(self, name: str | None = None) -> None:
        for column in [name] if name is not None else list(self._pending):
            parts = self._pending.pop(column, [])
            self._pending_count.pop(column, None)
            arrays = [p if isinstance(p, pa.Array) else pa.array(p, pa.string()) for p in parts]
            if arrays:
                self._judge_strings(column, pa.concat_arrays(arrays))

    def _judge_strings(self, name: str, column: pa.Array) -> None:
        text = pc.utf8_trim_whitespace(column)
        present = pc.fill_null(pc.not_equal(text, ""), False)
        if not pc.all(present).as_py():
            text = text.filter(present)
        feasible = self._feasible.setdefault(name, set(_ORDER))
        if len(text) == 0:
            return
        self._seen.add(name)
        feasible &= _string_kinds(text, feasible)

    def add_values(self, name: str, values: list[Any]) -> None:
        """JSON values of a key (None is no value)."""
        feasible = self._feasible.setdefault(name, set(_ORDER))
        kinds = {type(value) for value in values if value is not None}
        if not kinds:
            return
        self._seen.add(name)
        for kind in kinds:
            if kind is bool:
                feasible &= _WIDER["boolean"]
            elif kind is int:
                feasible &= _WIDER["integer"]
            elif kind is float:
                feasible &= _WIDER["number"]
            elif kind is str:
                strings = pa.array([v for v in values if type(v) is str], pa.string())
                feasible &= _string_kinds(strings, {"date", "timestamp", "string"}) | {"string"}
            else:
                feasible.clear()  # objects and arrays: no schema type holds them
        if str in kinds and kinds != {str}:
            feasible.clear()

    def add_typed(self, name: str, arrow_type: pa.DataType, values: int = 1) -> None:
        """An Arrow-typed column (Parquet)."""
        feasible = self._feasible.setdefault(name, set(_ORDER))
        if values:
            self._seen.add(name)
            feasible &= _WIDER[field_type_of(arrow_type)]

    def type_of(self, name: str) -> str:
        self._flush()
        feasible = self._feasible.get(name, set())
        if name not in self._seen:
            return "string"
        return next((kind for kind in _ORDER if kind in feasible), "string")

    def schema(self, names: list[str]) -> dict[str, Any]:
        """The inferred schema of the columns ``names``, in that order."""
        return {"fields": [{"name": name, "type": self.type_of(name)} for name in names]}

    def conflicts(self, expected: dict[str, Any], names: list[str]) -> list[str]:
        """What differs between ``expected`` and the columns seen (empty: it fits)."""
        self._flush()
        types = field_types(expected)
        differences = [f"column {name!r} is missing" for name in types if name not in names]
        differences += [
            f"column {name!r} is not in the schema" for name in names if name not in types
        ]
        for name in names:
            kind = types.get(name)
            if kind is None or name not in self._seen:
                continue
            if kind not in self._feasible.get(name, set()):
                found = self.type_of(name)
                differences.append(
                    f"column {name!r} is {kind} in the schema but holds {found} values"
                    if found != "string" or kind == "string"
                    else f"column {name!r} is {kind} in the schema but holds values that are not"
                )
        return differences


def check_schema(expected: dict[str, Any], inference: SchemaInference, names: list[str]) -> None:
    """Raises ``SchemaMismatchError`` naming every difference."""
    differences = inference.conflicts(expected, names)
    if differences:
        raise SchemaMismatchError(differences)


def _string_kinds(text: pa.Array, candidates: set[str]) -> set[str]:
    """The kinds among ``candidates`` every (trimmed, non-empty) string reads as."""
    kinds = {"string"}

    def every(pattern: str) -> bool:
        return bool(pc.all(pc.match_substring_regex(text, pattern)).as_py())

    # An integer is also a decimal: a column of integers needs only the narrower pattern.
    # The other kinds exclude each other value by value (a decimal is neither "true" nor
    # "false" and has no "-" after four digits; a boolean has no digit): once every value is
    # of one, the others are not asked (each ask is a pass over the column).
    integers = "integer" in candidates and every(_INTEGER)
    if "number" in candidates and (integers or every(_DECIMAL)):
        numbers = pc.cast(text, pa.float64())
        if pc.all(pc.is_finite(numbers)).as_py():
            kinds.add("number")
            if integers:
                kinds.add("integer")
        return kinds
    if (
        "boolean" in candidates
        and pc.all(pc.is_in(pc.utf8_lower(text), pa.array(["true", "false"]))).as_py()
    ):
        kinds.add("boolean")
        return kinds
    if candidates & {"date", "timestamp"} and every(_TIMESTAMP):
        # The regex admits the common ISO forms; the calendar is checked by a round trip
        # through Arrow for whole seconds (with or without Z), by the reference otherwise.
        if "date" in candidates and every(_DATE) and _all_read(text, "%Y-%m-%d", "date"):
            kinds |= {"date", "timestamp"}
        elif "timestamp" in candidates and _all_read(text, "%Y-%m-%dT%H:%M:%S", "timestamp"):
            kinds.add("timestamp")
    return kinds


def _all_read(text: pa.Array, form: str, kind: str) -> bool:
    """Whether every value (each of a form ``_TIMESTAMP`` admits) reads as ``kind``: those
    of the strict ``form`` (a trailing Z and a space for T allowed) by Arrow's ISO 8601
    cast, which checks the calendar; the others, and all of them if one of those fails, by
    the reference."""
    from tabular.values import coerce

    length, arrow_type = _STRICT[form]
    plain = pc.replace_substring(pc.utf8_rtrim(text, characters="Z"), " ", "T")
    exact = pc.and_(
        pc.equal(pc.utf8_length(plain), length), pc.invert(pc.starts_with(plain, "0000"))
    )
    try:
        pc.cast(plain.filter(exact), arrow_type)
    except pa.ArrowInvalid:
        exact = pa.repeat(False, len(text))
    others = text.filter(pc.invert(exact))
    return all(coerce(kind, value) is not None for value in others.to_pylist())
