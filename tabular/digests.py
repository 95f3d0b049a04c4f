"""Content digests of tabular deposits (CSV, JSON Lines), computed on the upload stream.

A deposit's body passes through ``ContentDigest.update`` chunk by chunk on its way to
encryption, and ``finalize`` returns the content digest the signed receipt carries (under its
historical key ``attestation``; the format below is unchanged since the first receipts, so
they all still verify and compare)::

    {"format": "csv" | "jsonl", "rows": N, "columns": [name, ...],
     "column_sha256": {name: hex}, "malformed_rows": M, "encoding": "utf-8"}

or, when the digest gives up, ``{"format": ..., "error": reason}``. The result is a
function of the bytes alone, never of how they were chunked.

Both formats: the body must be UTF-8, and one leading BOM (EF BB BF) is ignored. ``rows``
counts the well-formed data rows, the only ones hashed; ``malformed_rows`` counts the others;
blank lines count as neither. The digest gives up with ``"not utf-8"`` if any byte is
not UTF-8; otherwise with the first of these met, in body order: ``"record too large"`` (a
record of more than ``max_record_bytes``, default 16 MiB, line endings included: so at most
one unfinished record is ever held), ``"too many columns"`` (more than ``MAX_COLUMNS``),
``"column name too long"`` (more than ``MAX_COLUMN_NAME_BYTES`` in UTF-8), and for CSV
``"duplicate column names"``.

CSV (``text/csv``): records are what ``csv.reader(io.StringIO(text))`` yields for the decoded
text (the default "excel" dialect: RFC 4180 quoting, CRLF or LF). A record that makes it raise
``csv.Error`` is malformed and reading resumes at the next line; fields may be as long as a
record. The first record that is not blank is the header and gives ``columns``. A data row is
well-formed when it has as many fields as the header and none of them contains NUL (U+0000,
the separator below).
    column_sha256[c] = SHA-256 over, for every well-formed row in order, the UTF-8 bytes of
    the row's field in column c followed by one 0x00 byte.

JSON Lines (``application/x-ndjson``, ``application/jsonl``, ``application/json-lines``): the
body is split at LF; a line of only spaces, tabs and CRs is blank. Any other line is
well-formed when it is one RFC 8259 JSON object (no NaN or Infinity, no lone surrogates,
integer literals of at most 4300 characters, sign included) nested at most ``MAX_JSON_DEPTH``
containers deep (the object itself is depth 1); of duplicate keys the last value counts.
``columns`` are the objects' keys in order of first appearance.
    column_sha256[c] = SHA-256 of the UTF-8 bytes of
        json.dumps(entries, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    where ``entries`` walks the well-formed rows in order: ``[value]`` for a row that has
    key c, and the number of rows for each maximal run of rows without it. Rows {"c": 1},
    {}, {}, {"c": [2.5]} give [[1],2,[[2.5]]]; a key first seen in row 1001 starts [1000,.
    (Counting runs keeps the work proportional to the keys present, however sparse.)
For a value without floats, integers beyond +-(2**53 - 1) or object keys outside the Basic
Multilingual Plane, the text of ``value`` is its RFC 8785 form (``crypto.canonical_json``);
floats are written as Python's ``repr`` writes them (``1.0``, ``1e-07``), which RFC 8785
would not, and which ``crypto.canonical_json`` refuses.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any, Final, Literal, Protocol, TypeAlias

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tabular.buffers import string_data
from tabular.schema import SchemaInference

__all__ = [
    "COLUMN_NAME_TOO_LONG",
    "DUPLICATE_COLUMNS",
    "MAX_COLUMNS",
    "MAX_COLUMN_NAME_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_RECORD_BYTES",
    "NOT_UTF8",
    "RECORD_TOO_LARGE",
    "TOO_MANY_COLUMNS",
    "ContentDigest",
    "DigestFormat",
    "digest_for",
]

DigestFormat: TypeAlias = Literal["csv", "jsonl"]

MAX_RECORD_BYTES: Final = 16 << 20
MAX_JSON_DEPTH: Final = 100
# The digest rides in every receipt: it must stay small whatever the body holds.
MAX_COLUMNS: Final = 4096
MAX_COLUMN_NAME_BYTES: Final = 1024

NOT_UTF8: Final = "not utf-8"
RECORD_TOO_LARGE: Final = "record too large"
DUPLICATE_COLUMNS: Final = "duplicate column names"
TOO_MANY_COLUMNS: Final = "too many columns"
COLUMN_NAME_TOO_LONG: Final = "column name too long"

_MEDIA_TYPES: Final[dict[str, DigestFormat]] = {
    "text/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
}
# Chunks are cut to this size: parsing blocks that stay in cache measured faster than 1 MiB
# blocks, and it bounds the rows held at once.
_SLICE_BYTES: Final = 64 << 10
# Parse even when quote parity says a record is unfinished once this much is held: a stray
# quote in an unquoted field (which csv reads literally) would otherwise stall parsing.
_FORCED_PARSE_BYTES: Final = 1 << 20
# CSV blocks Arrow reads at once (``_CsvTable._absorb_by_arrow``): its costs are per call.
_ARROW_BLOCK_BYTES: Final = 1 << 20
_SENTINEL_LINE: Final = "end\n"
_SENTINEL_ROW: Final = ["end"]
_JSON_SPACE: Final = b" \t\r"
# Every byte except the ones that open a JSON container and LF, for bytes.translate.
_NOT_OPENERS: Final = bytes(byte for byte in range(256) if byte not in b"[{\n")


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...
    def copy(self) -> _Hasher: ...
    def hexdigest(self) -> str: ...


class _GiveUp(Exception):
    """The digest cannot be computed; ``reason`` goes into the result."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def digest_for(media_type: str) -> ContentDigest | None:
    """A fresh digest for a CSV or JSON Lines media type (parameters ignored), else None."""
    essence = media_type.split(";", 1)[0].strip().lower()
    table_format = _MEDIA_TYPES.get(essence)
    return None if table_format is None else ContentDigest(table_format)


class ContentDigest:
    """Digests a CSV or JSON Lines body fed in chunks of any size (see the module docstring).

    ``inference`` accumulates the columns' types from every well-formed row (same pass).

    Fails closed: bad input yields an ``error`` result, never an exception or unbounded memory.
    """

    def __init__(
        self, table_format: DigestFormat, *, max_record_bytes: int = MAX_RECORD_BYTES
    ) -> None:
        if max_record_bytes < 1:
            raise ValueError("max_record_bytes must be positive")
        self.inference = SchemaInference()
        self._table: _CsvTable | _JsonLinesTable = (
            _CsvTable(max_record_bytes, self.inference)
            if table_format == "csv"
            else _JsonLinesTable(max_record_bytes, self.inference)
        )
        self._max = max_record_bytes
        self._forced_at = min(_FORCED_PARSE_BYTES, max_record_bytes)
        self._target = min(self._table.block_target, max_record_bytes)  # bytes parsed at once
        # Held bytes start at a record boundary; _cut ends the last safe block, _last_lf the
        # last line; both are offsets into the held bytes, 0 for none.
        self._parts: list[bytes] = []
        self._size = 0
        self._cut = 0
        self._last_lf = 0
        self._retry_at = 0
        self._head: bytes | None = b""  # the first bytes, until they are known not to be a BOM
        self._error: str | None = None
        self._validator = codecs.getincrementaldecoder("utf-8")()  # used once given up
        self._result: dict[str, Any] | None = None

    def update(self, chunk: bytes) -> None:
        if self._result is not None:
            raise RuntimeError("update() after finalize()")
        if self._head is not None:
            chunk = self._head + chunk
            if len(chunk) < len(codecs.BOM_UTF8) and codecs.BOM_UTF8.startswith(chunk):
                self._head = chunk
                return
            self._head = None
            chunk = chunk.removeprefix(codecs.BOM_UTF8)
        for start in range(0, len(chunk), _SLICE_BYTES):
            self._accept(chunk[start : start + _SLICE_BYTES])

    def finalize(self) -> dict[str, Any]:
        """The content digest (computed once; later calls return the same dict)."""
        if self._result is None:
            self._result = self._finish()
        return self._result

    def _finish(self) -> dict[str, Any]:
        if self._head:
            self._accept(self._head)  # a truncated BOM: not UTF-8
        if self._error is None:
            held = b"".join(self._parts)
            try:
                if held:
                    self._table.consume(held, final=True)
            except _GiveUp as stop:
                self._stop(stop.reason)
        if self._error is not None and self._error != NOT_UTF8:
            self._validate(b"", final=True)
        if self._error is not None:
            return {"format": self._table.format, "error": self._error}
        return self._table.result()

    def _accept(self, piece: bytes) -> None:
        if self._error is None:
            try:
                self._push(piece)
            except _GiveUp as stop:
                self._stop(stop.reason)
        elif self._error != NOT_UTF8:
            self._validate(piece)

    def _stop(self, reason: str) -> None:
        """Gives up; keeps checking UTF-8 so that "not utf-8" wins whatever the chunking."""
        held, self._parts, self._size = b"".join(self._parts), [], 0
        self._error = reason
        if reason != NOT_UTF8:
            self._validate(held)  # held bytes start at a record, hence at a character

    def _validate(self, data: bytes, *, final: bool = False) -> None:
        try:
            self._validator.decode(data, final)
        except UnicodeDecodeError:
            self._error = NOT_UTF8

    def _push(self, piece: bytes) -> None:
        cut = self._table.find_cut(piece, self._size)
        if cut:
            self._cut = cut
        newline = piece.rfind(b"\n")
        if newline >= 0:
            self._last_lf = self._size + newline + 1
        self._parts.append(piece)
        self._size += len(piece)
        self._drain()

    def _drain(self) -> None:
        """Parses held whole records; a failed try waits for twice the bytes (linear time)."""
        while True:
            over = self._size > self._max
            if self._size < max(self._retry_at, self._target) and not over:
                return
            end = self._cut
            if over or (not end and self._size >= self._forced_at):
                end = self._last_lf
            if not end:
                if over:  # no line ends after the record's start
                    raise _GiveUp(RECORD_TOO_LARGE)
                return
            if self._consume(end) < end:
                if self._size > self._max:  # what is still held is one unfinished record
                    raise _GiveUp(RECORD_TOO_LARGE)
                self._retry_at = 2 * self._size
                return
            self._retry_at = 0

    def _consume(self, end: int) -> int:
        held = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        consumed = self._table.consume(held[:end], final=False)
        rest = held[consumed:]
        self._parts, self._size = ([rest] if rest else []), len(rest)
        self._table.restart()
        self._cut = self._table.find_cut(rest, 0)
        self._last_lf = rest.rfind(b"\n") + 1
        return consumed


class _CsvTable:
    format: Final = "csv"
    block_target: Final = _ARROW_BLOCK_BYTES

    def __init__(self, max_record_bytes: int, inference: SchemaInference) -> None:
        self._max = max_record_bytes
        self._inference = inference
        self._quotes = 0  # quote characters held since the current record's start
        self._columns: list[str] | None = None
        self._hashers: list[_Hasher] = []
        self._rows = 0
        self._malformed = 0

    def find_cut(self, piece: bytes, base: int) -> int:
        """End of the piece's last line outside quotes, by quote parity (0 if none).

        Exact for RFC 4180 quoting; ``consume`` detects the rest and gives back the tail.
        """
        self._quotes += piece.count(b'"')
        # Walk back quote by quote: parity is constant between two quotes, so a stray quote
        # (odd parity from there on) costs one step, not one per line.
        odd, end = self._quotes % 2, len(piece)
        while True:
            quote = piece.rfind(b'"', 0, end)
            if not odd:
                newline = piece.rfind(b"\n", quote + 1, end)
                if newline >= 0:
                    return base + newline + 1
            if quote < 0:
                return 0
            odd, end = odd ^ 1, quote

    def restart(self) -> None:
        self._quotes = 0

    def consume(self, block: bytes, *, final: bool) -> int:
        """Absorbs the block's whole records; returns how many bytes they take."""
        if self._columns is not None and self._absorb_by_arrow(block):
            return len(block)
        try:
            text = block.decode()
        except UnicodeDecodeError:
            raise _GiveUp(NOT_UTF8) from None
        # Process-wide; only ever raised, so that no field within the record limit fails.
        if csv.field_size_limit() < self._max + 64:
            csv.field_size_limit(self._max + 64)
        if len(block) <= self._max:
            rows, errors = _read_all(csv.reader(_lines(text, final)))
            if final or rows[-1:] == [_SENTINEL_ROW]:
                self._absorb(rows if final else rows[:-1], errors, nul="\x00" in text)
                return len(block)
        return self._consume_measured(block, text, final=final)

    def _consume_measured(self, block: bytes, text: str, *, final: bool) -> int:
        """Record by record: finds where an unfinished last record starts, checks lengths."""
        ends = [0, *itertools.accumulate(len(line) + 1 for line in block.split(b"\n"))]
        lines = len(ends) - 2 if block.endswith(b"\n") else len(ends) - 1
        reader = csv.reader(_lines(text, final))
        rows: list[list[str]] = []
        errors = start = 0
        while True:
            try:
                row: list[str] | None = next(reader)
            except StopIteration:
                break
            except csv.Error:
                row = None
            if reader.line_num > lines:  # the sentinel's line: an unfinished record, or itself
                break
            if min(ends[reader.line_num], len(block)) - ends[start] > self._max:
                self._absorb(rows, errors, nul=True)  # a duplicate header comes first
                raise _GiveUp(RECORD_TOO_LARGE)
            if row is None:
                errors += 1
            else:
                rows.append(row)
            start = reader.line_num
        self._absorb(rows, errors, nul="\x00" in text)
        return len(block) if final else ends[start]

    def _absorb(self, rows: list[list[str]], errors: int, *, nul: bool) -> None:
        self._malformed += errors
        if self._columns is None:
            rows = self._take_header(rows)
        if self._columns is None or not rows:
            return
        width = len(self._columns)
        good = rows if set(map(len, rows)) == {width} else [r for r in rows if len(r) == width]
        if nul:
            good = [row for row in good if "\x00" not in "".join(row)]
        self._malformed += len(rows) - len(good) - rows.count([])
        self._rows += len(good)
        for name, hasher, column in zip(
            self._columns, self._hashers, zip(*good, strict=True), strict=False
        ):
            hasher.update("\x00".join(column).encode())
            hasher.update(b"\x00")
            self._inference.add_strings(name, column)

    def _absorb_by_arrow(self, block: bytes) -> bool:
        """Absorbs a block of whole records read by Arrow when it reads them as the csv module
        does; False (nothing absorbed) when it may not, for the csv module to read.

        Arrow's parser is the csv module's state machine (a property test holds them equal
        on every body) but for a lone CR, which ends a record for Arrow and is an error for
        csv; rows with NUL are malformed here. Arrow refuses a block it reads with a width
        other than the header's or bytes that are not UTF-8. The block must also end between
        records: a quoted field the block leaves open would end with its last LF."""
        columns = self._columns
        if (
            columns is None
            or not block.endswith(b"\n")
            or b"\x00" in block
            or block.count(b"\r") != block.count(b"\r\n")
        ):
            return False
        try:
            table = pacsv.read_csv(
                pa.BufferReader(block),
                read_options=pacsv.ReadOptions(
                    column_names=columns, use_threads=False, block_size=len(block) + 1
                ),
                parse_options=_ARROW_PARSE,
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in columns},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                    check_utf8=True,
                ),
            )
        except (pa.ArrowException, ValueError):
            return False
        if table.num_rows and table.column(len(columns) - 1)[-1].as_py().endswith("\n"):
            return False
        self._rows += table.num_rows
        for name, hasher, column in zip(columns, self._hashers, table.columns, strict=True):
            values = column.combine_chunks()
            hasher.update(string_data(pc.binary_join_element_wise(values, "", "\x00")))
            self._inference.add_strings(name, values)
        return True

    def _take_header(self, rows: list[list[str]]) -> list[list[str]]:
        for index, row in enumerate(rows):
            if row:
                _check_column_names(row)
                if len(set(row)) != len(row):
                    raise _GiveUp(DUPLICATE_COLUMNS)
                self._columns = row
                self._hashers = [hashlib.sha256() for _ in row]
                return rows[index + 1 :]
        return []

    def result(self) -> dict[str, Any]:
        columns = self._columns or []
        return {
            "format": self.format,
            "rows": self._rows,
            "columns": columns,
            "column_sha256": {
                name: hasher.hexdigest()
                for name, hasher in zip(columns, self._hashers, strict=True)
            },
            "malformed_rows": self._malformed,
            "encoding": "utf-8",
        }


_ARROW_PARSE: Final = pacsv.ParseOptions(newlines_in_values=True)


def _lines(text: str, final: bool) -> Iterable[str]:
    """The text's lines (split at LF only, as csv expects), then a sentinel unless final.

    A sentinel row comes back intact only if the text ends between records: inside a quoted
    field the sentinel line becomes part of the field.
    """
    lines = io.StringIO(text)
    return lines if final else itertools.chain(lines, (_SENTINEL_LINE,))


def _read_all(reader: Iterator[list[str]]) -> tuple[list[list[str]], int]:
    """All rows, and how many records raised csv.Error (reading resumes at the next line)."""
    rows: list[list[str]] = []
    errors = 0
    while True:
        try:
            rows.extend(reader)  # keeps the rows read before an error
        except csv.Error:
            errors += 1
        else:
            return rows, errors


def _check_column_names(names: list[str], known: int = 0) -> None:
    """Gives up past MAX_COLUMNS columns (``known`` of them already) or on a name too long."""
    if known + len(names) > MAX_COLUMNS:
        raise _GiveUp(TOO_MANY_COLUMNS)
    if any(len(name.encode()) > MAX_COLUMN_NAME_BYTES for name in names):
        raise _GiveUp(COLUMN_NAME_TOO_LONG)


class _JsonColumn:
    """A running SHA-256 over the column's entries array (see the module docstring)."""

    def __init__(self) -> None:
        self._hasher: _Hasher = hashlib.sha256(b"[")
        self._written = False
        self._next_row = 0  # the row after the last one that had the key

    def add(self, row: int, entries: bytes, count: int) -> None:
        """Adds ``count`` rows from ``row`` on that have the key: ``entries`` is their text."""
        if row > self._next_row:
            self._write(b"%d" % (row - self._next_row))
        self._write(entries)
        self._next_row = row + count

    def hexdigest(self, rows: int) -> str:
        hasher = self._hasher.copy()
        if rows > self._next_row:
            hasher.update(b"%s%d" % (b"," if self._written else b"", rows - self._next_row))
        hasher.update(b"]")
        return hasher.hexdigest()

    def _write(self, element: bytes) -> None:
        if self._written:
            self._hasher.update(b",")
        self._hasher.update(element)
        self._written = True


# Types msgspec writes byte for byte as json.dumps does (it writes floats differently, and
# containers may hold floats).
_PLAIN_TYPES: Final = frozenset({str, int, bool, type(None)})
_NUMBER_TYPES: Final = frozenset({int, float})
_CONTAINER_TYPES: Final = frozenset({dict, list})
_JSON: Final = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
_MSGSPEC: Final = msgspec.json.Encoder()


class _JsonLinesTable:
    format: Final = "jsonl"
    block_target: Final = _SLICE_BYTES

    def __init__(self, max_record_bytes: int, inference: SchemaInference) -> None:
        self._max = max_record_bytes
        self._inference = inference
        self._decoder = msgspec.json.Decoder()
        self._columns: dict[str, _JsonColumn] = {}
        self._rows = 0
        self._malformed = 0

    def find_cut(self, piece: bytes, base: int) -> int:
        newline = piece.rfind(b"\n")
        return base + newline + 1 if newline >= 0 else 0

    def restart(self) -> None:
        pass

    def consume(self, block: bytes, *, final: bool) -> int:
        if not block.isascii():
            try:
                block.decode()
            except UnicodeDecodeError:
                raise _GiveUp(NOT_UTF8) from None
        lines = block.split(b"\n")
        terminated = len(lines) - 1
        if not lines[-1]:
            lines.pop()
        too_long = self._first_too_long(lines, terminated) if len(block) > self._max else None
        values, malformed = self._decode(block, lines[:too_long])
        rows = [value for value in values if type(value) is dict]
        self._malformed += malformed + len(values) - len(rows)
        if rows:
            self._absorb(rows)  # first: a column error before the long line wins
        if too_long is not None:
            raise _GiveUp(RECORD_TOO_LARGE)
        return len(block)

    def _first_too_long(self, lines: list[bytes], terminated: int) -> int | None:
        """Index of the first line over the limit (``terminated`` lines end with LF)."""
        sizes = (len(line) + (index < terminated) for index, line in enumerate(lines))
        return next((index for index, size in enumerate(sizes) if size > self._max), None)

    def _decode(self, block: bytes, lines: list[bytes]) -> tuple[list[Any], int]:
        # A line with at most MAX_JSON_DEPTH container openers cannot nest deeper.
        openers = block.translate(None, _NOT_OPENERS).split(b"\n")
        if max(map(len, openers)) <= MAX_JSON_DEPTH:
            try:
                return list(map(self._decoder.decode, lines)), 0
            except msgspec.DecodeError:
                pass  # a blank or malformed line: sort them one by one
        values: list[Any] = []
        malformed = 0
        for line in lines:
            if not line.strip(_JSON_SPACE):
                continue
            try:
                value = self._decoder.decode(line)
            except (msgspec.DecodeError, RecursionError):
                malformed += 1
                continue
            deep = line.count(b"[") + line.count(b"{") > MAX_JSON_DEPTH
            if deep and _deeper_than(value, MAX_JSON_DEPTH):
                malformed += 1
                continue
            values.append(value)
        return values, malformed

    def _absorb(self, rows: list[dict[str, Any]]) -> None:
        present: set[str] = set().union(*rows)
        if not present <= self._columns.keys():
            self._add_columns(rows)
        for key in present:
            self._inference.add_values(key, [row.get(key) for row in rows])
        if set(map(len, rows)) == {len(present)}:  # every row has every key: dense
            for key in present:
                values = [row[key] for row in rows]
                self._columns[key].add(self._rows, _entries(values), len(rows))
        else:
            self._absorb_sparse(rows, present)
        self._rows += len(rows)

    def _absorb_sparse(self, rows: list[dict[str, Any]], present: set[str]) -> None:
        """Keys missing from some rows: work in proportion to the keys, not rows x columns."""
        where: dict[str, list[int]] = {key: [] for key in present}
        for index, row in enumerate(rows):
            for key in row:
                where[key].append(index)
        for key, indices in where.items():
            column = self._columns[key]
            for start, stop in _runs(indices):
                values = [row[key] for row in rows[start:stop]]
                column.add(self._rows + start, _entries(values), stop - start)

    def _add_columns(self, rows: list[dict[str, Any]]) -> None:
        """Adds the rows' new keys in order of first appearance."""
        columns = self._columns
        for row in rows:
            if not row.keys() <= columns.keys():
                fresh = [key for key in row if key not in columns]
                _check_column_names(fresh, len(columns))
                for key in fresh:
                    columns[key] = _JsonColumn()

    def result(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "rows": self._rows,
            "columns": list(self._columns),
            "column_sha256": {
                key: column.hexdigest(self._rows) for key, column in self._columns.items()
            },
            "malformed_rows": self._malformed,
            "encoding": "utf-8",
        }


def _entries(values: list[Any]) -> bytes:
    """``[value],[value],...``: the entries of rows that have the key, as json.dumps writes."""
    types = set(map(type, values))
    if types <= _PLAIN_TYPES:
        return b"[" + b"],[".join(map(_MSGSPEC.encode, values)) + b"]"
    if types <= _NUMBER_TYPES:  # json.dumps writes ints and floats with their repr
        return ("[" + "],[".join(map(repr, values)) + "]").encode()
    return _JSON.encode([[value] for value in values])[1:-1].encode()


def _runs(indices: list[int]) -> Iterator[tuple[int, int]]:
    """The maximal runs of consecutive numbers in sorted ``indices``, as (start, stop)."""
    start = previous = indices[0]
    for index in itertools.islice(indices, 1, None):
        if index != previous + 1:
            yield start, previous + 1
            start = index
        previous = index
    yield start, previous + 1


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` deep in ``value``, a level at a time."""
    level = [value] if type(value) in _CONTAINER_TYPES else []
    for _ in range(limit):
        if not level:
            return False
        level = [
            child
            for item in level
            for child in (item.values() if type(item) is dict else item)
            if type(child) in _CONTAINER_TYPES
        ]
    return bool(level)
