"""Parquet views: the output file holds what the view grants of the whole table, and no more."""

from __future__ import annotations

import io
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tabular import RangeReader, apply_view
from tabular import TabularError as ViewError
from tests.unit.tabular.test_views import MISSING, holds, typed_values, views

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def parquet_view(source: Any, view: dict[str, Any], schema: Any, **options: Any) -> Any:
    """The view over a Parquet file, as Partner Escrow serves it."""
    return apply_view("parquet", view, schema, source=source, **options)


# Per schema type, Arrow types a column of it may have; the last ones take the Python path.
ARROW_TYPES = {
    "string": [pa.string(), pa.large_string(), pa.dictionary(pa.int32(), pa.string())],
    "integer": [pa.int64(), pa.int8(), pa.uint32(), pa.uint64(), pa.string()],
    "number": [pa.float64(), pa.float32(), pa.int32(), pa.decimal128(12, 3), pa.string()],
    "boolean": [pa.bool_(), pa.string()],
    "date": [pa.date32(), pa.date64(), pa.string()],
    "timestamp": [
        pa.timestamp("us"),
        pa.timestamp("ms", tz="UTC"),
        pa.timestamp("ns", tz="+05:30"),
        pa.timestamp("s"),
        pa.date32(),
        pa.string(),
    ],
}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def column_values(kind: str, arrow_type: Any) -> st.SearchStrategy[Any]:
    """Values an Arrow column of ``arrow_type`` holds (None for null)."""
    types = pa.types
    if types.is_string(arrow_type) or types.is_large_string(arrow_type):
        return typed_values(kind).map(lambda v: None if v is None else _text(v))
    if types.is_dictionary(arrow_type):
        return st.sampled_from(["EU", "US", "", None, "a,b"])
    if types.is_integer(arrow_type):
        info = {8: 100, 32: 2**31 - 1, 64: 2**62}[arrow_type.bit_width]
        low = 0 if types.is_unsigned_integer(arrow_type) else -info
        return st.none() | st.integers(-3, 3).filter(lambda v: v >= low) | st.integers(low, info)
    if types.is_floating(arrow_type):
        width: Literal[32, 64] = 32 if arrow_type == pa.float32() else 64
        return st.none() | st.floats(width=width) | st.integers(-3, 3).map(float)
    if types.is_decimal(arrow_type):
        return st.none() | st.decimals(-(10**8), 10**8, places=3, allow_nan=False)
    if types.is_boolean(arrow_type):
        return st.none() | st.booleans()
    if types.is_date(arrow_type):
        return st.none() | st.dates(date(1990, 1, 1), date(2030, 1, 1))
    zone = None if arrow_type.tz is None else UTC
    unit = {"s": timedelta(seconds=1), "ms": timedelta(milliseconds=1)}.get(arrow_type.unit)
    return st.none() | st.datetimes(datetime(1990, 1, 1), datetime(2030, 1, 1)).map(
        lambda v: (_floor(v, unit) if unit else v).replace(tzinfo=zone)
    )


def _floor(value: datetime, unit: timedelta) -> datetime:
    return value - (value - datetime(1970, 1, 1)) % unit


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return value.isoformat() if isinstance(value, date) else str(value)


@st.composite
def parquet_tables(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 5))
    kinds = [draw(st.sampled_from([*ARROW_TYPES, "payload"])) for _ in range(count)]
    names = [f"col ~c{i}^" for i in range(count)]
    arrow_types = [
        pa.string() if kind == "payload" else draw(st.sampled_from(ARROW_TYPES[kind]))
        for kind in kinds
    ]
    rows = draw(st.integers(0, 14))
    columns = {}
    for c, (kind, arrow_type) in enumerate(zip(kinds, arrow_types, strict=True)):
        if kind == "payload":
            values = [f"~v{r}.{c}^" for r in range(rows)]
            if draw(st.booleans()):
                arrow_type = pa.dictionary(pa.int32(), pa.string())
        else:
            values = [draw(column_values(kind, arrow_type)) for _ in range(rows)]
        columns[names[c]] = pa.array(values, type=arrow_type)
    table = pa.table(columns).replace_schema_metadata({b"pandas": " ".join(names).encode()})
    types = {name: "string" if k == "payload" else k for name, k in zip(names, kinds, strict=True)}
    return {
        "names": names,
        "kinds": kinds,
        "table": table,
        "types": types,
        "view": draw(views(names, types)),
    }


def comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with NaN made equal to itself."""
    return [
        {k: "NaN" if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in rows
    ]


@SETTINGS
@given(parquet_tables(), st.integers(1, 5), st.integers(1, 7), st.integers(1, 10))
def test_parquet_view_equals_the_view_of_the_whole_table_and_leaks_nothing(
    case: dict[str, Any], row_group_size: int, batch_rows: int, group_rows: int
) -> None:
    table, view = case["table"], case["view"]
    source = io.BytesIO()
    pq.write_table(table, source, row_group_size=row_group_size)
    data = source.getvalue()
    rows = table.to_pylist()
    kept = [
        r
        for r, row in enumerate(rows)
        if view["where"] is None
        or holds(view["where"], case["types"], lambda n, row=row: row.get(n, MISSING))  # type: ignore[misc]
    ]
    fields = view["fields"] or case["names"]
    expected = [{name: rows[r][name] for name in fields} for r in kept]

    reader = RangeReader(len(data), lambda start, end: data[start:end])
    stream = parquet_view(
        reader,
        view,
        schema_of(case),
        batch_rows=batch_rows,
        group_rows=group_rows,
        compression="none",
    )
    out = b"".join(stream)
    result = pq.read_table(io.BytesIO(out))
    assert result.column_names == fields
    assert comparable(result.to_pylist()) == comparable(expected)
    assert (stream.rows_scanned, stream.rows_returned) == (len(rows), len(kept))
    granted = set(fields)
    forbidden = [f"~c{c}^" for c, name in enumerate(case["names"]) if name not in granted]
    forbidden += [
        f"~v{r}.{c}^"
        for c, name in enumerate(case["names"])
        if case["kinds"][c] == "payload"
        for r in range(len(rows))
        if name not in granted or r not in kept
    ]
    assert not [marker for marker in forbidden if marker.encode() in out]
    assert b"pandas" not in out


def schema_of(case: dict[str, Any]) -> dict[str, Any]:
    return {"fields": [{"name": n, "type": t} for n, t in case["types"].items()]}


def parquet_bytes(table: Any, **options: Any) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


def test_a_dictionary_never_carries_values_of_filtered_rows() -> None:
    region = pa.array(["EU", "SECRET-REGION", "US"]).dictionary_encode()
    data = parquet_bytes(pa.table({"region": region, "n": [1, 2, 3]}), compression="none")
    view = {"fields": ["region"], "where": {"field": "n", "op": "ne", "value": 2}}
    schema = {"fields": [{"name": "region", "type": "string"}, {"name": "n", "type": "integer"}]}
    out = b"".join(parquet_view(io.BytesIO(data), view, schema, compression="none"))
    assert pq.read_table(io.BytesIO(out)).to_pylist() == [{"region": "EU"}, {"region": "US"}]
    assert b"SECRET" not in out and b"n" not in pq.read_schema(io.BytesIO(out)).names


def test_field_metadata_and_nested_dictionaries_are_dropped() -> None:
    inner = pa.StructArray.from_arrays(
        [pa.array(["ok", "SECRET-NESTED"]).dictionary_encode()], names=["tag"]
    )
    field = pa.field("s", inner.type, metadata={b"note": b"SECRET-META"})
    table = pa.Table.from_arrays(
        [inner, pa.array([1, 2])], schema=pa.schema([field, ("n", pa.int64())])
    )
    data = parquet_bytes(table, compression="none")
    view = {"fields": ["s"], "where": {"field": "n", "op": "lt", "value": 2}}
    schema = {"fields": [{"name": "s", "type": "string"}, {"name": "n", "type": "integer"}]}
    out = b"".join(parquet_view(io.BytesIO(data), view, schema, compression="none"))
    assert pq.read_table(io.BytesIO(out)).to_pylist() == [{"s": {"tag": "ok"}}]
    assert b"SECRET" not in out


def test_nanosecond_timestamps_compare_at_microseconds_like_iso_strings() -> None:
    stamps = pa.array([1_000_000_999, 999_999, 1_000_001_000], type=pa.timestamp("ns"))
    data = parquet_bytes(pa.table({"t": stamps}))
    where = {"field": "t", "op": "eq", "value": "1970-01-01T00:00:01.000000999"}
    view = {"fields": None, "where": where}  # fromisoformat keeps 6 digits: 00:00:01
    schema = {"fields": [{"name": "t", "type": "timestamp"}]}
    out = b"".join(parquet_view(io.BytesIO(data), view, schema))
    assert pq.read_table(io.BytesIO(out)).column("t").cast(pa.int64()).to_pylist() == [
        1_000_000_999
    ]


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        (b"PAR1 SECRET-BYTES not parquet PAR1", None),
        (b"", None),
        (parquet_bytes(pa.table({"SECRET-COL": [1]})), ["missing"]),
    ],
)
def test_unreadable_files_and_absent_columns_abort_without_data(
    data: bytes, fields: list[str] | None
) -> None:
    with pytest.raises(ViewError) as raised:
        b"".join(parquet_view(io.BytesIO(data), {"fields": fields, "where": None}, None))
    assert "SECRET" not in str(raised.value)
    assert raised.value.__cause__ is None  # pyarrow's message, which may hold data, is dropped
    assert raised.value.__context__ is None or raised.value.__suppress_context__


def test_truncated_file_read_through_a_range_reader_aborts() -> None:
    data = parquet_bytes(pa.table({"a": list(range(1000))}), row_group_size=100)
    cut = data[: len(data) // 2] + data[-2000:]
    reader = RangeReader(len(cut), lambda start, end: cut[start:end])
    with pytest.raises(ViewError):
        b"".join(parquet_view(reader, {"fields": ["a"], "where": None}, None))
