"""A dataset version's plaintext as an Arrow table, and a population's rows in it.

Interim reader until the shared tabular engine (``tabular/``, the Arrow issue) lands: CSV is
read with every column as a string (the values the file holds, as a view serves them),
JSON Lines and Parquet with the types they carry. Predicates mean what
``escrow.datasets.view_predicates`` says; string comparisons on string columns run as
``pyarrow.compute`` kernels, other types are read value by value with the same ``coerce``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from escrow.datasets.view_predicates import value_matcher

__all__ = ["TABLE_FORMATS", "TableError", "read_table", "rows_where", "table_format"]

TABLE_FORMATS: Final = {
    "text/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}
_COMPARE: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "eq": pc.equal,
    "ne": pc.not_equal,
    "lt": pc.less,
    "le": pc.less_equal,
    "gt": pc.greater,
    "ge": pc.greater_equal,
}


class TableError(Exception):
    """The plaintext is not a table of the dataset's schema. Messages carry no data."""


def table_format(media_type: str) -> str | None:
    return TABLE_FORMATS.get(media_type.split(";", 1)[0].strip().lower())


def read_table(media_type: str, plaintext: bytes | bytearray, schema: dict[str, Any]) -> pa.Table:
    """The whole version as one table with (at least) the schema's columns."""
    kind = table_format(media_type)
    names = [field["name"] for field in schema["fields"]]
    bom = 3 if plaintext[:3] == b"\xef\xbb\xbf" else 0
    source = pa.BufferReader(pa.py_buffer(plaintext)[bom:])
    try:
        if kind == "csv":
            table = pa_csv.read_csv(
                source,
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    strings_can_be_null=False,
                ),
            )
        elif kind == "jsonl":
            table = pa_json.read_json(source)
        elif kind == "parquet":
            table = pq.read_table(pa.BufferReader(pa.py_buffer(plaintext)))
        else:
            raise TableError("the dataset is not tabular")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError):
        raise TableError("the version is not readable as its media type") from None
    missing = [name for name in names if name not in table.column_names]
    if missing:
        raise TableError("the version lacks columns its schema names")
    return table.select(names)


def rows_where(table: pa.Table, where: dict[str, Any] | None, types: dict[str, str]) -> pa.Array:
    """A boolean mask of the rows ``where`` keeps (None: every row); null never keeps a row."""
    if where is None:
        return all_true(len(table))
    return pc.fill_null(_mask(table, where, types), False)


def _mask(table: pa.Table, node: dict[str, Any], types: dict[str, str]) -> pa.Array:
    if "all" in node or "any" in node:
        children: list[dict[str, Any]] = node.get("all") or node.get("any") or []
        parts = [_mask(table, child, types) for child in children]
        combine = pc.and_kleene if "all" in node else pc.or_kleene
        return reduce(combine, parts)
    name, op, value = node["field"], node["op"], node["value"]
    column = table[name].combine_chunks() if table[name].num_chunks else pa.array([], pa.string())
    kind = types.get(name, "string")
    if kind == "string" and pa.types.is_string(column.type):
        if op == "in":
            wanted = [v for v in value if isinstance(v, str)]
            return pc.is_in(column, value_set=pa.array(wanted, pa.string()))
        if not isinstance(value, str):
            return pa.array([False] * len(column), pa.bool_())
        compare: Any = _COMPARE[op](column, pa.scalar(value, pa.string()))
        return compare
    # Other types: the same reading as disclosure views, value by value (interim).
    test = value_matcher(kind, op, value)
    return pa.array([bool(test(raw)) for raw in column.to_pylist()], pa.bool_())


def all_true(length: int) -> pa.Array:
    return pc.fill_null(pa.nulls(length, pa.bool_()), True)
