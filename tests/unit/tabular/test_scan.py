"""Deposit scans: schema inference from every value, and bad tables refused whole."""

from __future__ import annotations

import io
import math
import re
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tabular import BadTableError, SchemaMismatchError
from tabular.scan import ScanResult, TableScan


def scan(fmt: Any, data: bytes, size: int = 7) -> ScanResult:
    table = TableScan(fmt)
    for start in range(0, len(data), size):
        table.update(data[start : start + size])
    return table.finish()


def types_of(result: ScanResult) -> dict[str, str]:
    assert result.schema is not None
    return {field["name"]: field["type"] for field in result.schema["fields"]}


def test_csv_types_are_inferred_from_every_value() -> None:
    data = (
        b"region,amount,count,paid,day,at,note,blank\r\n"
        b"EU,10,1,true,2024-01-31,2024-01-31T10:00:00Z,x,\r\n"
        b"US,2.5,-2,FALSE,2024-02-29,2024-02-01,7,\r\n"
        b"EU, 3e2 ,+3, true ,2024-03-01,2024-03-01 09:30:00,,\r\n"
    )
    assert types_of(scan("csv", data)) == {
        "region": "string",
        "amount": "number",
        "count": "integer",
        "paid": "boolean",
        "day": "date",
        "at": "timestamp",
        "note": "string",
        "blank": "string",
    }


def test_one_value_that_does_not_read_makes_the_column_a_string() -> None:
    rows = b"".join(b"%d\n" % i for i in range(50_000)) + b"n/a\n"
    assert types_of(scan("csv", b"n\n" + rows, size=4096)) == {"n": "string"}
    dates = b"d\n2024-01-31\n2024-02-30\n"  # no such day
    assert types_of(scan("csv", dates)) == {"d": "string"}


def test_json_lines_types_keep_json_types() -> None:
    data = (
        b'{"id": 1, "score": 1, "ok": true, "name": "a", "day": "2024-01-01"}\n'
        b'{"id": 2, "score": 2.5, "ok": false, "name": "3", "day": "2024-01-02"}\n'
        b'{"id": 3, "extra": {"k": 1}}\n'
    )
    assert types_of(scan("jsonl", data)) == {
        "id": "integer",
        "score": "number",
        "ok": "boolean",
        "name": "string",
        "day": "date",
        "extra": "string",
    }


def test_parquet_schema_is_its_own() -> None:
    sink = io.BytesIO()
    table = pa.table({"a": pa.array([1], pa.int32()), "b": [1.5], "c": ["x"], "d": [True]})
    pq.write_table(table, sink)
    result = scan("parquet", sink.getvalue(), size=100)
    assert types_of(result) == {"a": "integer", "b": "number", "c": "string", "d": "boolean"}
    assert result.digest is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"a,b\n1,2\n3\n", "malformed rows"),  # ragged row
        (b"a,b\n1,2,3\n", "malformed rows"),
        (b"a,b\n1,\xff\n", "not utf-8"),
        (b"a,a\n1,2\n", "duplicate column names"),
        (b'a,b\n1,"open\n', "unterminated quote"),
        (b"", "no header"),
    ],
)
def test_bad_csv_is_refused_with_a_stable_reason(data: bytes, reason: str) -> None:
    with pytest.raises(BadTableError) as raised:
        scan("csv", data)
    assert raised.value.reason == reason


def test_a_record_longer_than_a_view_can_read_is_refused() -> None:
    data = b'a,b\n1,"' + b"x" * (17 << 20) + b'"\n'
    with pytest.raises(BadTableError) as raised:
        scan("csv", data, size=1 << 20)
    assert raised.value.reason == "record too large"


def test_malformed_json_lines_and_non_parquet_are_refused() -> None:
    with pytest.raises(BadTableError):
        scan("jsonl", b'{"a": 1}\n[1]\n')
    with pytest.raises(BadTableError):
        scan("parquet", b"PAR1 not parquet PAR1")


def test_check_names_every_difference() -> None:
    result = scan("csv", b"region,amount,extra\nEU,2.5,x\n")
    expected = {
        "fields": [
            {"name": "region", "type": "string"},
            {"name": "amount", "type": "integer"},
            {"name": "gone", "type": "date"},
        ]
    }
    with pytest.raises(SchemaMismatchError) as raised:
        result.check(expected)
    assert raised.value.differences == [
        "column 'gone' is missing",
        "column 'extra' is not in the schema",
        "column 'amount' is integer in the schema but holds number values",
    ]
    widened = {"fields": [*expected["fields"][:1], {"name": "amount", "type": "number"}]}
    result = scan("csv", b"region,amount\nEU,2\n")
    result.check(widened)  # integers are numbers


# Values near every boundary inference draws: signs, exponents, huge integers, booleans in
# any case, real and impossible calendar days, each timestamp form, year 0000, blanks.
_SHAPES = st.sampled_from(
    [
        "0",
        "-7",
        "+3",
        "007",
        "9" * 400,
        "2.5",
        ".5",
        "5.",
        "1e3",
        "-2E-2",
        "1e999",
        "nan",
        "inf",
        "0x10",
        "1_000",
        "true",
        "FALSE",
        " True ",
        "yes",
        "2024-01-31",
        "2024-02-29",
        "2023-02-29",
        "0000-01-01",
        "2024-1-31",
        "2024-01-31T10:00:00",
        "2024-01-31T10:00:00Z",
        "2024-01-31T10:00:00ZZ",
        "2024-01-31 10:00:00",
        "2024-01-31T10:00",
        "2024-01-31T25:00:00",
        "2024-01-31T10:00:00.123456",
        "2024-01-31T10:00:00+02:00",
        "2024-01-31T10:00+02:00",
        "2024-01-31Z",
        "",
        " ",
        "x",
        "EU",
    ]
)


def _reference_type(values: list[str]) -> str:
    """The inference's rule, one value at a time with the reference readers."""
    from tabular.schema import _TIMESTAMP
    from tabular.values import coerce

    present = [v.strip() for v in values if v.strip()]
    if not present:
        return "string"

    def finite(v: str) -> bool:
        number = coerce("number", v)
        try:  # an integer beyond a double's range reads as a number, not a finite one
            return number is not None and math.isfinite(float(number))
        except OverflowError:
            return False

    def reads(kind: str, v: str) -> bool:
        if kind == "integer":
            return re.fullmatch(r"[+-]?[0-9]+", v) is not None and finite(v)
        if kind == "number":
            return finite(v)
        if kind in ("date", "timestamp") and not re.fullmatch(_TIMESTAMP, v):
            return False
        if kind == "date" and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v):
            return False
        return coerce(kind, v) is not None

    kinds = ("integer", "number", "boolean", "date", "timestamp")
    return next((k for k in kinds if all(reads(k, v) for v in present)), "string")


@settings(max_examples=300, deadline=None)
@given(st.lists(_SHAPES, min_size=1, max_size=12), st.integers(1, 4))
def test_csv_inference_equals_the_reference_value_by_value(values: list[str], copies: int) -> None:
    rows = "".join(f'"{v}"\r\n' for v in values * copies)
    assert types_of(scan("csv", b"c\r\n" + rows.encode(), size=61)) == {
        "c": _reference_type(values)
    }
