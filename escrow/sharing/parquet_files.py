"""A released view as one Parquet file, with the protocol's schema string and statistics.

The view is applied by the same engine as ``/v1`` downloads (so both disclose exactly the
same rows and fields); CSV and JSON Lines output is then read by Arrow with the types of
the dataset's schema (fields it does not list are strings) and written as Parquet. The
Parquet file goes to a local temporary file, because its footer comes last and the bytes
are sealed afterwards; memory holds a batch, not the dataset.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any, Final

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from escrow.datasets.disclosure import ViewError, viewed
from escrow.datasets.views import table_format

_ARROW_TYPES: Final = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
_BLOCK: Final = 8 << 20
_MAX_STATS_TEXT: Final = 64  # longer string minima/maxima are left out of the statistics


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
    spool: IO[bytes],
    sink: IO[bytes],
) -> ParquetFacts:
    """Fails closed: ViewError when the version cannot be read as its table format."""
    kind = table_format(media_type)
    if kind is None:
        raise ViewError("only tabular datasets (CSV, JSON Lines, Parquet) can be shared")
    rows = (
        plaintext()
        if view is None
        else viewed(media_type, view, schema, plaintext(), read_range, size, _ignore_counts)
    )
    for chunk in rows:
        spool.write(chunk)
    spool.flush()
    spool.seek(0)
    try:
        if kind == "parquet":
            _copy_parquet(spool, sink)
        else:
            _write_table(kind, spool, _field_types(schema), sink)
    except (pa.ArrowException, OSError, ValueError, TypeError, OverflowError):
        raise ViewError("this version does not read as its table format and schema") from None
    sink.flush()
    sink.seek(0)
    metadata = pq.ParquetFile(sink).metadata
    arrow_schema = metadata.schema.to_arrow_schema()
    return ParquetFacts(
        num_records=metadata.num_rows,
        schema_string=spark_schema(arrow_schema),
        stats=json.dumps(_statistics(metadata, arrow_schema), separators=(",", ":")),
    )


def _ignore_counts(scanned: int, returned: int, malformed: int) -> None:
    """Row counts of the view are audited with each file fetch, not at materialization."""


def _field_types(schema: dict[str, Any] | None) -> dict[str, pa.DataType]:
    fields = (schema or {}).get("fields") or []
    return {f["name"]: _ARROW_TYPES.get(f.get("type"), pa.string()) for f in fields}


def _copy_parquet(source: IO[bytes], sink: IO[bytes]) -> None:
    """Rewrites the file batch by batch without its key-value metadata (pandas metadata
    would name columns the view left out)."""
    file = pq.ParquetFile(source)
    out_schema = file.schema_arrow.remove_metadata()
    with pq.ParquetWriter(sink, out_schema, compression="snappy") as writer:
        for batch in file.iter_batches(batch_size=64 << 10):
            writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=out_schema))


def _write_table(
    kind: str, source: IO[bytes], types: dict[str, pa.DataType], sink: IO[bytes]
) -> None:
    if kind == "csv":
        first = source.readline().decode("utf-8-sig")
        source.seek(0)
        header = next(csv.reader(io.StringIO(first)), [])
        column_types = {name: types.get(name, pa.string()) for name in header}
        reader = pa_csv.open_csv(
            source,
            read_options=pa_csv.ReadOptions(block_size=_BLOCK),
            convert_options=pa_csv.ConvertOptions(
                column_types=column_types,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        batches: Iterator[pa.RecordBatch] = iter(reader)
        out_schema = reader.schema
    else:
        explicit = pa.schema([pa.field(name, t) for name, t in types.items()]) if types else None
        table = pa_json.read_json(
            source,
            read_options=pa_json.ReadOptions(block_size=_BLOCK),
            parse_options=pa_json.ParseOptions(explicit_schema=explicit),
        )
        out_schema = table.schema
        batches = iter(table.to_batches())
    with pq.ParquetWriter(sink, out_schema, compression="snappy") as writer:
        for batch in batches:
            writer.write_batch(batch)


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
