"""Parquet out: CSV and JSON Lines converted with the schema, read back equal; typed reads."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq

from tabular import apply_view, read_batches, typed_batch, write_parquet

SCHEMA = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "amount", "type": "number"},
        {"name": "ok", "type": "boolean"},
        {"name": "day", "type": "date"},
        {"name": "at", "type": "timestamp"},
        {"name": "note", "type": "string"},
    ]
}
TYPES = {field["name"]: field["type"] for field in SCHEMA["fields"]}
CSV = (
    b"id,amount,ok,day,at,note\r\n"
    b'1,2.5,true,2024-01-31,2024-01-31T10:00:00Z,"a, b"\r\n'
    b"2,-3,FALSE,2024-02-29,2024-02-29 08:00:00,\r\n"
    b"x,n/a,maybe,2024-02-30,soon,plain\r\n"
)
EXPECTED = [
    {
        "id": 1,
        "amount": 2.5,
        "ok": True,
        "day": date(2024, 1, 31),
        "at": datetime(2024, 1, 31, 10, tzinfo=UTC),
        "note": "a, b",
    },
    {
        "id": 2,
        "amount": -3.0,
        "ok": False,
        "day": date(2024, 2, 29),
        "at": datetime(2024, 2, 29, 8, tzinfo=UTC),
        "note": "",
    },
    {"id": None, "amount": None, "ok": None, "day": None, "at": None, "note": "plain"},
]


def test_csv_converts_to_parquet_typed_by_the_schema() -> None:
    view = {"fields": None, "where": None}
    out = b"".join(apply_view("csv", view, SCHEMA, chunks=iter([CSV]), output="parquet"))
    table = pq.read_table(io.BytesIO(out))
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert table.to_pylist() == EXPECTED


def test_json_lines_convert_to_parquet_with_the_granted_fields_and_rows() -> None:
    data = b'{"id": 1, "amount": 2.5, "note": "x"}\n{"id": 2, "amount": "7", "note": "y"}\n'
    view = {"fields": ["note", "amount"], "where": {"field": "amount", "op": "gt", "value": 3}}
    out = b"".join(apply_view("jsonl", view, SCHEMA, chunks=iter([data]), output="parquet"))
    assert pq.read_table(io.BytesIO(out)).to_pylist() == [{"note": "y", "amount": 7.0}]


def test_read_batches_then_typed_batch_is_what_overlaps_read() -> None:
    batches = list(read_batches(iter([CSV[:17], CSV[17:]]), "csv"))
    assert batches[0].column("note").type == pa.string()
    typed = pa.Table.from_batches([typed_batch(batch, TYPES) for batch in batches])
    assert typed.to_pylist() == EXPECTED


def test_write_parquet_round_trips_in_row_groups_without_metadata() -> None:
    schema = pa.schema([("k", pa.string()), ("n", pa.int64())]).with_metadata({"x": "SECRET"})
    batches = [
        pa.record_batch([pa.array([f"k{i}"] * 10), pa.array(range(10))], schema=schema)
        for i in range(5)
    ]
    out = b"".join(write_parquet(batches, schema, group_rows=20))
    file = pq.ParquetFile(io.BytesIO(out))
    assert file.num_row_groups == 3
    assert file.read().num_rows == 50
    assert b"SECRET" not in out
