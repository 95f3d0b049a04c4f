"""A released view as one Parquet file, with the protocol's schema string and statistics.

The view is applied by the Arrow engine (``tabular.apply_view``, the one ``/v1`` downloads use
for ``format=parquet``), which writes Parquet typed by the dataset's schema (a value that does
not read as its type is null; fields the schema does not list are strings). The file is
written to a local temporary file, because its footer comes last and the bytes are sealed
afterwards; memory holds a block or a row group, not the dataset.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from tabular import RangeReader, TabularError, ViewError, apply_view, table_format

__all__ = ["ParquetFacts", "ViewError", "spark_schema", "write_view"]

_MAX_STATS_TEXT: Final = 64  # longer string minima/maxima are left out of the statistics
_WHOLE: Final[dict[str, Any]] = {}  # a grant of the whole table: every column, every row


@dataclass(frozen=True)
class ParquetFacts:
    num_records: int
    schema_string: str  # the Spark-style JSON schema of the file
    stats: str  # the protocol's per-file statistics, JSON


def write_view(
    media_type: str,
    view: dict[str, Any] | None,
    schema: dict[str, Any] | None,
    plaintext: Callable[[], Iterator[bytes]],
    read_range: Callable[[int, int], bytes],
    size: int,
    sink: IO[bytes],
) -> ParquetFacts:
    """Fails closed: ViewError when the version cannot be read as its table format, or the
    view cannot be applied to it; nothing is returned then."""
    fmt = table_format(media_type)
    if fmt is None:
        raise ViewError("only tabular datasets (CSV, JSON Lines, Parquet) can be shared")
    try:
        if fmt == "parquet":
            source = io.BufferedReader(RangeReader(size, read_range), buffer_size=1 << 20)
            output = apply_view(fmt, view or _WHOLE, schema, source=source, output="parquet")
        else:
            output = apply_view(fmt, view or _WHOLE, schema, chunks=plaintext(), output="parquet")
        for chunk in output:
            sink.write(chunk)
        sink.flush()
        sink.seek(0)
        metadata = pq.ParquetFile(sink).metadata
    except TabularError as exc:
        raise ViewError(str(exc)) from None
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ViewError("this version does not read as its table format") from exc
    arrow_schema = metadata.schema.to_arrow_schema()
    return ParquetFacts(
        num_records=metadata.num_rows,
        schema_string=spark_schema(arrow_schema),
        stats=json.dumps(_statistics(metadata, arrow_schema), separators=(",", ":")),
    )


def spark_schema(schema: pa.Schema) -> str:
    """The protocol's schema string: Spark's JSON struct type."""
    fields = [_spark_field(f) for f in schema]
    return json.dumps({"type": "struct", "fields": fields}, separators=(",", ":"))


def _spark_field(field: pa.Field) -> dict[str, Any]:
    return {
        "name": field.name,
        "type": _spark_type(field.type),
        "nullable": field.nullable,
        "metadata": {},
    }


def _spark_type(t: pa.DataType) -> Any:
    if pa.types.is_dictionary(t):
        return _spark_type(t.value_type)
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t):
        return "byte"
    if pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "short"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "integer"
    if pa.types.is_integer(t):
        return "long"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "float"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp" if t.tz else "timestamp_ntz"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "binary"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return {"type": "array", "elementType": _spark_type(t.value_type), "containsNull": True}
    if pa.types.is_struct(t):
        return {"type": "struct", "fields": [_spark_field(t.field(i)) for i in range(t.num_fields)]}
    if pa.types.is_map(t):
        return {
            "type": "map",
            "keyType": _spark_type(t.key_type),
            "valueType": _spark_type(t.item_type),
            "valueContainsNull": True,
        }
    return "string"


def _statistics(metadata: pq.FileMetaData, schema: pa.Schema) -> dict[str, Any]:
    """numRecords, and per top-level column null counts and (for simple types) min/max,
    combined from the row groups' statistics."""
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    leaf = {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}
    for name in schema.names:
        index = leaf.get(name)
        if index is None:
            continue
        groups = [
            metadata.row_group(g).column(index).statistics for g in range(metadata.num_row_groups)
        ]
        if not groups or any(s is None for s in groups):
            continue
        if all(s.has_null_count for s in groups):
            nulls[name] = sum(s.null_count for s in groups)
        values = [(s.min, s.max) for s in groups if s.has_min_max]
        if values and len(values) == len(groups):
            low, high = min(v[0] for v in values), max(v[1] for v in values)
            if _simple(low) and _simple(high):
                mins[name], maxs[name] = _json_value(low), _json_value(high)
    return {
        "numRecords": metadata.num_rows,
        "minValues": mins,
        "maxValues": maxs,
        "nullCount": nulls,
    }


def _simple(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= _MAX_STATS_TEXT
    return isinstance(value, int | float | date) and not isinstance(value, bool)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value
