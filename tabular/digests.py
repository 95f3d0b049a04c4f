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
from typing import Any, Final, Literal, TypeAlias

from tabular.csv_digest import CsvTable
from tabular.digest_rules import (
    COLUMN_NAME_TOO_LONG,
    DUPLICATE_COLUMNS,
    MAX_COLUMN_NAME_BYTES,
    MAX_COLUMNS,
    MAX_JSON_DEPTH,
    MAX_RECORD_BYTES,
    NOT_UTF8,
    RECORD_TOO_LARGE,
    SLICE_BYTES,
    TOO_MANY_COLUMNS,
    GiveUp,
)
from tabular.jsonl_digest import JsonLinesTable
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

_MEDIA_TYPES: Final[dict[str, DigestFormat]] = {
    "text/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
}
# Parse even when quote parity says a record is unfinished once this much is held: a stray
# quote in an unquoted field (which csv reads literally) would otherwise stall parsing.
_FORCED_PARSE_BYTES: Final = 1 << 20


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
        self._table: CsvTable | JsonLinesTable = (
            CsvTable(max_record_bytes, self.inference)
            if table_format == "csv"
            else JsonLinesTable(max_record_bytes, self.inference)
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
        for start in range(0, len(chunk), SLICE_BYTES):
            self._accept(chunk[start : start + SLICE_BYTES])

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
            except GiveUp as stop:
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
            except GiveUp as stop:
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
                    raise GiveUp(RECORD_TOO_LARGE)
                return
            if self._consume(end) < end:
                if self._size > self._max:  # what is still held is one unfinished record
                    raise GiveUp(RECORD_TOO_LARGE)
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
