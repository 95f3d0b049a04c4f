"""ContentDigest: chunking-independent, equal to whole-input references, fails closed."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import tracemalloc
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crypto import canonical_json
from tabular import csv_digest
from tabular.digests import (
    MAX_COLUMN_NAME_BYTES,
    MAX_COLUMNS,
    MAX_JSON_DEPTH,
    MAX_RECORD_BYTES,
    ContentDigest,
    DigestFormat,
    digest_for,
)

BOM = b"\xef\xbb\xbf"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def attest(
    table_format: DigestFormat,
    chunks: Iterable[bytes],
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> dict[str, Any]:
    attestor = ContentDigest(table_format, max_record_bytes=max_record_bytes)
    for chunk in chunks:
        attestor.update(chunk)
    return attestor.finalize()


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` cut at the given offsets (modulo its length + 1; repeats give empty chunks)."""
    points = sorted(cut % (len(data) + 1) for cut in cuts)
    return [data[start:end] for start, end in itertools.pairwise([0, *points, len(data)])]


def success(
    table_format: str, rows: int, columns: dict[str, str], malformed: int = 0
) -> dict[str, Any]:
    return {
        "format": table_format,
        "rows": rows,
        "columns": list(columns),
        "column_sha256": columns,
        "malformed_rows": malformed,
        "encoding": "utf-8",
    }


# ---------------------------------------------------------------------------------------------
# References: the documented definitions, computed on the whole input at once.


def csv_reference(data: bytes, max_record_bytes: int = MAX_RECORD_BYTES) -> dict[str, Any]:
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return {"format": "csv", "error": "not utf-8"}
    total = len(text.encode())
    ends = [0, *itertools.accumulate(len(line.encode()) + 1 for line in text.split("\n"))]
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    body: list[list[str]] = []
    malformed = start = 0
    while True:
        try:
            row: list[str] | None = next(reader)
        except StopIteration:
            break
        except csv.Error:
            row = None
        size, start = min(ends[reader.line_num], total) - ends[start], reader.line_num
        if size > max_record_bytes:
            return {"format": "csv", "error": "record too large"}
        if row is None:
            malformed += 1
        elif not row:
            continue
        elif header is None:
            error = column_error(row, 0)
            if error is None and len(set(row)) < len(row):
                error = "duplicate column names"
            if error is not None:
                return {"format": "csv", "error": error}
            header = row
        else:
            body.append(row)
    header = header or []
    good = [r for r in body if len(r) == len(header) and not any("\x00" in f for f in r)]
    digests = {
        name: hashlib.sha256(b"".join(row[i].encode() + b"\x00" for row in good)).hexdigest()
        for i, name in enumerate(header)
    }
    return success("csv", len(good), digests, malformed + len(body) - len(good))


def column_error(new_names: list[str], known: int) -> str | None:
    if known + len(new_names) > MAX_COLUMNS:
        return "too many columns"
    if any(len(name.encode()) > MAX_COLUMN_NAME_BYTES for name in new_names):
        return "column name too long"
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def jsonl_reference(data: bytes, max_record_bytes: int = MAX_RECORD_BYTES) -> dict[str, Any]:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return {"format": "jsonl", "error": "not utf-8"}
    lines = data.removeprefix(BOM).split(b"\n")
    rows: list[dict[str, Any]] = []
    columns: dict[str, None] = {}
    malformed = 0
    for index, line in enumerate(lines):
        if len(line) + (index < len(lines) - 1) > max_record_bytes:
            return {"format": "jsonl", "error": "record too large"}
        if not line.strip(b" \t\r"):
            continue
        try:
            value = json.loads(line.decode(), parse_constant=_reject_constant)
        except ValueError:
            value = None
        if not isinstance(value, dict) or _depth(value) > MAX_JSON_DEPTH:
            malformed += 1
            continue
        new = [key for key in value if key not in columns]
        if error := column_error(new, len(columns)):
            return {"format": "jsonl", "error": error}
        columns.update(dict.fromkeys(new))
        rows.append(value)
    digests = {}
    for column in columns:
        entries: list[Any] = []
        for row in rows:
            if column in row:
                entries.append([row[column]])
            elif entries and isinstance(entries[-1], int):
                entries[-1] += 1  # one more row in the run without the key
            else:
                entries.append(1)
        text = json.dumps(entries, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        digests[column] = hashlib.sha256(text.encode()).hexdigest()
    return success("jsonl", len(rows), digests, malformed)


# ---------------------------------------------------------------------------------------------
# Known answers, with the hashed bytes written out.

KNOWN_CSV = b'name,city\r\nAda,"London, UK"\r\n"Grace ""Amazing"" Hopper",New York\r\n'
KNOWN_CSV_ATTESTATION = success(
    "csv",
    2,
    {
        # SHA-256(b'Ada\x00Grace "Amazing" Hopper\x00')
        "name": "49927d2e6a3c1d0381082312236f7a59f11b5273c6169641d605c0a7960ef641",
        # SHA-256(b"London, UK\x00New York\x00")
        "city": "69cfeef42500c1cb2dfd8fa97fe3710bb0508d815a546578c1b4fd68ceee9d7c",
    },
)
KNOWN_JSONL = (
    b'{"id": 1, "tags": ["a", "b"], "price": 1.5}\n{"id": 2, "extra": {"z": 1, "a": null}}\n'
)
KNOWN_JSONL_ATTESTATION = success(
    "jsonl",
    2,
    {
        # SHA-256(b'[[1],[2]]')
        "id": "7df7c03ad1f4de3b78607b084bc11b714b2d4193c941df099819dbc7f866124b",
        # SHA-256(b'[[["a","b"]],1]')
        "tags": "8064f9e6782f374650e3fd06fc71b76011cefb7d457811337634dd2df0a59e9c",
        # SHA-256(b'[[1.5],1]')
        "price": "ec489d7ab97128987ae2bb8b2f29a7da46aff54251cf4483e12893bbf8e7301a",
        # SHA-256(b'[1,[{"a":null,"z":1}]]')
        "extra": "1e830297b9a1ef7813761868c9e5e1ae8b974c535e8d564667d3ed5141e032a2",
    },
)


def test_known_csv_digests_match_the_documented_definition() -> None:
    assert attest("csv", [KNOWN_CSV]) == KNOWN_CSV_ATTESTATION
    column_sha256 = KNOWN_CSV_ATTESTATION["column_sha256"]
    assert column_sha256["name"] == hashlib.sha256(b'Ada\x00Grace "Amazing" Hopper\x00').hexdigest()
    assert column_sha256["city"] == hashlib.sha256(b"London, UK\x00New York\x00").hexdigest()


def test_known_jsonl_digests_match_the_documented_definition() -> None:
    assert attest("jsonl", [KNOWN_JSONL]) == KNOWN_JSONL_ATTESTATION
    preimages = {
        "id": b"[[1],[2]]",
        "tags": b'[[["a","b"]],1]',
        "price": b"[[1.5],1]",
        "extra": b'[1,[{"a":null,"z":1}]]',
    }
    for column, preimage in preimages.items():
        expected = hashlib.sha256(preimage).hexdigest()
        assert KNOWN_JSONL_ATTESTATION["column_sha256"][column] == expected


@pytest.mark.parametrize(("table_format", "data"), [("csv", KNOWN_CSV), ("jsonl", KNOWN_JSONL)])
def test_byte_by_byte_feeding_gives_the_same_attestation(
    table_format: DigestFormat, data: bytes
) -> None:
    assert attest(table_format, split(data, range(len(data)))) == attest(table_format, [data])


def test_attestation_is_canonical_json_with_ints_and_strings_only() -> None:
    for result in (attest("csv", [KNOWN_CSV]), attest("jsonl", [KNOWN_JSONL])):
        canonical_json(result)  # raises on floats, among others
        assert json.loads(canonical_json(result)) == result


# ---------------------------------------------------------------------------------------------
# CSV

CSV_ALPHABET = st.sampled_from(["a", "b", " ", ",", '"', "\n", "\r", "é", "€", "😀", "\x00"])
FIELDS = st.text(CSV_ALPHABET, max_size=6) | st.text(max_size=4)


@st.composite
def csv_documents(draw: st.DrawFn) -> bytes:
    width = draw(st.integers(1, 4))
    header = draw(st.lists(FIELDS, min_size=width, max_size=width, unique=True))
    widths = st.sampled_from([width, width, width, width, 0, width + 1, max(width - 1, 0)])
    rows = draw(st.lists(widths.flatmap(lambda n: st.lists(FIELDS, min_size=n, max_size=n))))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\r\n", "\n"])))
    writer.writerows([header, *rows])
    text = out.getvalue()
    if draw(st.booleans()):
        text = text.rstrip("\r\n")  # no line ending after the last record
    return (BOM if draw(st.booleans()) else b"") + text.encode()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_documents(), st.lists(st.integers(0, 10_000), max_size=12))
def test_csv_tables_equal_the_whole_input_reference_however_chunked(
    data: bytes, cuts: list[int]
) -> None:
    expected = csv_reference(data)
    assert attest("csv", [data]) == expected
    assert attest("csv", split(data, cuts)) == expected


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_documents(), st.lists(st.integers(0, 10_000), max_size=12), st.integers(8, 64))
def test_csv_blocks_read_by_arrow_equal_the_reference(
    data: bytes, cuts: list[int], block: int
) -> None:
    """Blocks after the header go to Arrow when it reads them as the csv module does; small
    blocks put most records there."""
    expected = csv_reference(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csv_digest.CsvTable, "block_target", block)
        assert attest("csv", split(data, cuts)) == expected


def test_a_table_of_quoted_fields_is_read_by_arrow_block_by_block() -> None:
    rows = [f'{i},"note, with ""quotes""\nand a line",x{i}' for i in range(200)]
    data = ("id,note,tag\r\n" + "\r\n".join(rows) + "\r\n").encode()
    read = []
    absorb = csv_digest.CsvTable._absorb_by_arrow

    def counted(table: Any, block: bytes) -> bool:
        read.append(absorb(table, block))
        return read[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(csv_digest.CsvTable, "block_target", 1024)
        patch.setattr(csv_digest.CsvTable, "_absorb_by_arrow", counted)
        assert attest("csv", split(data, range(0, len(data), 700))) == csv_reference(data)
    assert len(read) > 5 and all(read)


@example(b"a\naa\n", [2], 2)  # a chunk of whole records, one over the limit: refused
@settings(max_examples=200, deadline=None)
@given(
    st.text(st.sampled_from(list('ab,"\n\r é\x00')), max_size=120).map(str.encode),
    st.lists(st.integers(0, 200), max_size=10),
    st.integers(1, 48),
)
def test_any_csv_text_equals_the_reference_with_a_small_record_limit(
    data: bytes, cuts: list[int], limit: int
) -> None:
    # Stray quotes, bare CRs, NULs, records over the limit: chunking never changes the answer.
    expected = csv_reference(data, limit)
    assert attest("csv", split(data, cuts), limit) == expected
    assert attest("csv", [data], limit) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([b"a", b",", b'"', b"\n", b"\xc3", b"\xa9", b"\xff", BOM])).map(
        b"".join
    ),
    st.lists(st.integers(0, 60), max_size=8),
)
def test_csv_bytes_that_may_not_be_utf8_equal_the_reference(data: bytes, cuts: list[int]) -> None:
    assert attest("csv", split(data, cuts)) == csv_reference(data)


def test_csv_rows_with_another_field_count_or_a_nul_are_malformed_and_not_hashed() -> None:
    data = b"a,b\n1,2\n3\n4,5,6\n\n7,8\nx\x00,9\n"
    assert attest("csv", [data]) == success(
        "csv",
        2,
        {
            "a": hashlib.sha256(b"1\x007\x00").hexdigest(),
            "b": hashlib.sha256(b"2\x008\x00").hexdigest(),
        },
        malformed=3,
    )


def test_csv_record_that_csv_module_rejects_is_malformed_and_reading_resumes() -> None:
    # A bare CR inside an unquoted field makes csv.reader raise; the next line reads on.
    result = attest("csv", [b"a\nx\ry\n2\n"])
    assert (result["rows"], result["malformed_rows"]) == (1, 1)
    assert result["column_sha256"] == {"a": hashlib.sha256(b"2\x00").hexdigest()}


def test_empty_csv_has_no_rows_and_no_columns() -> None:
    assert attest("csv", []) == success("csv", 0, {})
    assert attest("csv", [b"", BOM, b""]) == success("csv", 0, {})
    assert attest("csv", [b"\r\n\n"]) == success("csv", 0, {})


def test_header_only_csv_has_columns_hashed_over_nothing() -> None:
    expected = success("csv", 0, {"id": EMPTY_SHA256, "name": EMPTY_SHA256})
    assert attest("csv", [b"id,name"]) == expected
    assert attest("csv", [b"id,name\r\n"]) == expected


def test_crlf_and_lf_line_endings_attest_the_same_values() -> None:
    lf = b'id,note\n1,"two\nlines"\n2,plain\n'
    crlf = b'id,note\r\n1,"two\nlines"\r\n2,plain\r\n'
    assert attest("csv", [crlf]) == attest("csv", [lf]) == csv_reference(lf)
    assert attest("csv", [lf])["column_sha256"]["note"] == (
        hashlib.sha256(b"two\nlines\x00plain\x00").hexdigest()
    )


def test_bom_is_ignored_even_when_split_across_chunks() -> None:
    with_bom = BOM + KNOWN_CSV
    assert attest("csv", split(with_bom, [1, 2])) == KNOWN_CSV_ATTESTATION
    assert attest("csv", [BOM[:1], BOM[1:2], BOM[2:], KNOWN_CSV]) == KNOWN_CSV_ATTESTATION


def test_duplicate_csv_column_names_give_up() -> None:
    assert attest("csv", [b"id,id\n1,2\n"]) == {"format": "csv", "error": "duplicate column names"}


def test_stray_quote_in_an_unquoted_field_does_not_stall_parsing() -> None:
    # csv reads x"y literally, so quote parity is wrong from there on; the attestor must still
    # parse in bounded memory instead of reporting one giant record.
    data = b'id,v\n1,x"y\n' + b"".join(b"%d,v\n" % i for i in range(5000))
    assert attest("csv", split(data, range(0, len(data), 1000)), 4096) == csv_reference(data)


def test_quoted_field_spanning_many_chunks_is_parsed_once_complete() -> None:
    note = "line\n" * 20_000
    data = f'id,note\n1,"{note}"\n2,x\n'.encode()
    expected = csv_reference(data)
    assert expected["rows"] == 2
    assert attest("csv", split(data, range(0, len(data), 4096))) == expected


# ---------------------------------------------------------------------------------------------
# JSON Lines

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
KEYS = st.sampled_from(["id", "name", "é", "", "😀", "\ue000"]) | st.text(max_size=3)
JSON_LINES = (
    st.dictionaries(KEYS, JSON_VALUES, max_size=4).map(json.dumps)
    | st.dictionaries(KEYS, JSON_VALUES, max_size=4).map(
        lambda row: json.dumps(row, ensure_ascii=False, indent=None, separators=(",", ":"))
    )
    | JSON_VALUES.map(json.dumps)
    | st.sampled_from(["", "  ", "\r", "{", "nope", "NaN", '{"a":NaN}', '{"a":1}{"b":2}', "[1,"])
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(JSON_LINES, max_size=12),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
    st.booleans(),
    st.lists(st.integers(0, 2_000), max_size=10),
)
def test_json_lines_equal_the_whole_input_reference_however_chunked(
    lines: list[str], newline: str, trailing: bool, bom: bool, cuts: list[int]
) -> None:
    data = (BOM if bom else b"") + (newline.join(lines) + (newline if trailing else "")).encode()
    expected = jsonl_reference(data)
    assert attest("jsonl", [data]) == expected
    assert attest("jsonl", split(data, cuts)) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.text(st.sampled_from(list('{}[]":,1ae \n\r\x00é')), max_size=80).map(str.encode),
    st.lists(st.integers(0, 100), max_size=8),
    st.integers(1, 24),
)
def test_any_json_lines_text_equals_the_reference_with_a_small_record_limit(
    data: bytes, cuts: list[int], limit: int
) -> None:
    expected = jsonl_reference(data, limit)
    assert attest("jsonl", split(data, cuts), limit) == expected


def test_late_key_accounts_for_the_rows_before_it_appeared() -> None:
    data = b'{"a":1}\n{"a":2}\n{"a":3,"late":"x"}\n{"late":null}\n{}\n{}\n{"a":[4]}\n'
    expected = success(
        "jsonl",
        7,
        {
            "a": hashlib.sha256(b"[[1],[2],[3],3,[[4]]]").hexdigest(),
            "late": hashlib.sha256(b'[2,["x"],[null],3]').hexdigest(),
        },
    )
    for cuts in ([], [5, 17], range(len(data))):
        assert attest("jsonl", split(data, cuts)) == expected


def test_sparse_keys_cost_their_presence_not_rows_times_columns() -> None:
    # 4000 rows, each with one of 4000 keys: 16 million (row, column) pairs, 4000 entries.
    rows = MAX_COLUMNS - 96
    data = b"".join(b'{"k%d":%d}\n' % (i, i) for i in range(rows))
    result = attest("jsonl", split(data, range(0, len(data), 4096)))
    assert result["rows"] == rows and len(result["columns"]) == rows
    first_entries, last_entries = b"[[0],%d]" % (rows - 1), b"[%d,[%d]]" % (rows - 1, rows - 1)
    assert result["column_sha256"]["k0"] == hashlib.sha256(first_entries).hexdigest()
    assert result["column_sha256"][f"k{rows - 1}"] == hashlib.sha256(last_entries).hexdigest()


def test_json_lines_non_objects_and_invalid_lines_are_malformed_blank_lines_skipped() -> None:
    data = b'{"a":{"nested":[1,{"x":2}]}}\n[1,2]\n"text"\n\n  \r\n{"a":NaN}\n{"a":1}{"b":2}\n{}\n'
    assert attest("jsonl", [data]) == success(
        "jsonl",
        2,
        {"a": hashlib.sha256(b'[[{"nested":[1,{"x":2}]}],1]').hexdigest()},
        malformed=4,
    )


def test_duplicate_json_keys_keep_the_last_value_at_the_first_position() -> None:
    result = attest("jsonl", [b'{"a":1,"b":2,"a":3}\n'])
    assert result["columns"] == ["a", "b"]
    assert result["column_sha256"]["a"] == hashlib.sha256(b"[[3]]").hexdigest()


def test_json_nesting_deeper_than_the_limit_is_malformed_without_raising() -> None:
    def nested(depth: int) -> bytes:  # an object holding arrays, depth containers in all
        return b'{"k":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"

    data = b"\n".join([nested(MAX_JSON_DEPTH), nested(MAX_JSON_DEPTH + 1), nested(50_000)])
    arrays = MAX_JSON_DEPTH - 1
    entries = b"[[" + b"[" * arrays + b"]" * arrays + b"]]"
    expected = success("jsonl", 1, {"k": hashlib.sha256(entries).hexdigest()}, malformed=2)
    assert attest("jsonl", [data]) == expected
    assert attest("jsonl", split(data, range(0, len(data), 50))) == expected


def test_many_containers_on_a_shallow_line_are_fine() -> None:
    data = json.dumps({"points": [{"x": i, "y": [i]} for i in range(300)]}).encode()
    assert attest("jsonl", [data]) == jsonl_reference(data)


def test_json_text_of_float_free_values_is_rfc8785() -> None:
    # The documented coincidence with crypto.canonical_json for such values.
    value = {"b": [1, -(2**53 - 1), True, None], "a": {"é": "x\u2028\n\x00", "": ""}}
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert text.encode() == canonical_json(value)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["a", "b"]), JSON_SCALARS, max_size=2), min_size=1))
def test_every_value_kind_hashes_as_json_dumps_writes_it(rows: list[dict[str, Any]]) -> None:
    # Strings, ints, bools and null take msgspec's writer, numbers repr, the rest json's.
    data = "\n".join(map(json.dumps, rows)).encode()
    assert attest("jsonl", [data]) == jsonl_reference(data)


def test_empty_json_lines_have_no_rows_and_no_columns() -> None:
    assert attest("jsonl", []) == success("jsonl", 0, {})
    assert attest("jsonl", [b"\n\r\n  \n"]) == success("jsonl", 0, {})


# ---------------------------------------------------------------------------------------------
# Failing closed


@pytest.mark.parametrize("table_format", ["csv", "jsonl"])
@pytest.mark.parametrize(
    "data",
    [
        b"a\n\xff\n",
        b"a\n\xc3",  # a truncated character at the very end
        b"\xef\xbb",  # a truncated BOM
        b"a\n\xed\xa0\x80\n",  # an encoded surrogate
    ],
)
def test_invalid_utf8_is_reported_not_raised(table_format: DigestFormat, data: bytes) -> None:
    expected = {"format": table_format, "error": "not utf-8"}
    assert attest(table_format, [data]) == expected
    assert attest(table_format, split(data, range(len(data)))) == expected


@pytest.mark.parametrize("table_format", ["csv", "jsonl"])
def test_record_limit_is_exact(table_format: DigestFormat) -> None:
    record = b'"' + b"x" * 97 + b'"\n'  # 100 bytes with its LF: a CSV field, a JSON string
    data = record * 3
    ok = attest(table_format, split(data, range(0, len(data), 7)), max_record_bytes=100)
    assert ok["rows"] == (2 if table_format == "csv" else 0)
    assert ok["malformed_rows"] == (0 if table_format == "csv" else 3)
    refused = attest(table_format, split(data, range(0, len(data), 7)), max_record_bytes=99)
    assert refused == {"format": table_format, "error": "record too large"}


@pytest.mark.parametrize("table_format", ["csv", "jsonl"])
def test_invalid_utf8_after_an_oversized_record_still_wins(table_format: DigestFormat) -> None:
    data = b"a\n" + b"x" * 500 + b"\n1\n\xff\n"
    expected = {"format": table_format, "error": "not utf-8"}
    for chunk in (1, 7, len(data)):
        chunks = split(data, range(0, len(data), chunk))
        assert attest(table_format, chunks, max_record_bytes=64) == expected


def test_unterminated_quote_is_refused_in_bounded_memory() -> None:
    attestor = ContentDigest("csv", max_record_bytes=1 << 16)
    piece = (b"x" * 1023 + b"\n") * 64
    tracemalloc.start()
    try:
        attestor.update(b'id,note\n1,"')
        for _ in range(64):  # 4 MiB of lines in a quoted field that never ends
            attestor.update(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert attestor.finalize() == {"format": "csv", "error": "record too large"}
    assert peak < 1 << 20


@pytest.mark.parametrize("table_format", ["csv", "jsonl"])
def test_default_limit_is_16_mib(table_format: DigestFormat) -> None:
    assert MAX_RECORD_BYTES == 16 << 20
    data = b'{"a":1}\n"' + b"x" * (17 << 20) + b'"\n'
    expected = {"format": table_format, "error": "record too large"}
    assert attest(table_format, split(data, range(0, len(data), 1 << 20))) == expected


@pytest.mark.parametrize("width", [MAX_COLUMNS, MAX_COLUMNS + 1])
def test_csv_column_count_is_capped(width: int) -> None:
    data = ",".join(f"c{i}" for i in range(width)).encode() + b"\n" + b"," * (width - 1) + b"\n"
    result = attest("csv", split(data, range(0, len(data), 4096)))
    assert result == csv_reference(data)
    assert result.get("error") == (None if width == MAX_COLUMNS else "too many columns")


@pytest.mark.parametrize("table_format", ["csv", "jsonl"])
def test_column_names_longer_than_the_cap_give_up(table_format: DigestFormat) -> None:
    fits, too_long = "é" * (MAX_COLUMN_NAME_BYTES // 2), "é" * (MAX_COLUMN_NAME_BYTES // 2) + "x"
    for name, error in ((fits, None), (too_long, "column name too long")):
        data = (f"{name}\n1\n" if table_format == "csv" else json.dumps({name: 1})).encode()
        assert attest(table_format, [data]).get("error") == error


def test_json_lines_with_ever_new_keys_give_up_at_the_column_cap() -> None:
    data = b"".join(b'{"k%d":1}\n' % i for i in range(MAX_COLUMNS + 10))
    expected = {"format": "jsonl", "error": "too many columns"}
    assert attest("jsonl", split(data, range(0, len(data), 1000))) == expected
    assert jsonl_reference(data) == expected
    assert attest("jsonl", [data[: data.index(b'{"k%d"' % MAX_COLUMNS)]])["rows"] == MAX_COLUMNS


@pytest.mark.parametrize("order", ["column first", "long line first"])
def test_the_first_problem_in_the_body_decides_the_error(order: str) -> None:
    wide = json.dumps({f"k{i}": 1 for i in range(MAX_COLUMNS + 1)}).encode() + b"\n"
    long_line = b'"' + b"x" * 200_000 + b'"\n'
    data = b'{"a":1}\n' + (wide + long_line if order == "column first" else long_line + wide)
    limit = 150_000
    expected = jsonl_reference(data, limit)
    first = "too many columns" if order == "column first" else "record too large"
    assert expected == {"format": "jsonl", "error": first}
    for chunk in (1000, 64 << 10, len(data)):
        assert attest("jsonl", split(data, range(0, len(data), chunk)), limit) == expected


# ---------------------------------------------------------------------------------------------
# API


@pytest.mark.parametrize(
    ("media_type", "table_format"),
    [
        ("text/csv", "csv"),
        ("Text/CSV; charset=utf-8", "csv"),
        ("text/csv;header=present", "csv"),
        ("application/x-ndjson", "jsonl"),
        ("application/jsonl", "jsonl"),
        (" APPLICATION/JSON-LINES ; charset=UTF-8", "jsonl"),
        ("application/json", None),
        ("application/octet-stream", None),
        ("text/plain", None),
        ("", None),
    ],
)
def test_media_types_map_to_attestors(media_type: str, table_format: str | None) -> None:
    attestor = digest_for(media_type)
    if table_format is None:
        assert attestor is None
    else:
        assert attestor is not None
        assert attestor.finalize()["format"] == table_format


def test_finalize_is_idempotent_and_ends_updates() -> None:
    attestor = ContentDigest("csv")
    attestor.update(KNOWN_CSV)
    assert attestor.finalize() == attestor.finalize() == KNOWN_CSV_ATTESTATION
    with pytest.raises(RuntimeError):
        attestor.update(b"more")


def test_record_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ContentDigest("csv", max_record_bytes=0)
