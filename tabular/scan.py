"""One pass over a deposit's plaintext: content digest, schema, and well-formedness.

``TableScan(fmt)`` is fed the body chunk by chunk (``update``); ``finish()`` returns a
``ScanResult`` with the receipt's content digest (CSV, JSON Lines) and the table's schema:
inferred from every value for CSV (a header row is required) and JSON Lines, the file's own
for Parquet (read from its footer, which the scan keeps the last ``PARQUET_TAIL_BYTES`` of).
``finish`` raises ``BadTableError`` for a body that is not a well-formed table: not UTF-8, a
record over the block, duplicate or too many column names, a malformed row (a CSV row whose
width differs from the header's; a JSON Lines line that is not one object; an odd number of
CSV quotes, which leaves a quoted field open or puts a quote inside an unquoted one), an unreadable
Parquet footer. ``ScanResult.check(expected)`` raises ``SchemaMismatchError`` naming every
difference from a dataset's schema (a missing or extra column, values of another type).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from tabular.csv_records import RecordSpan
from tabular.digests import NOT_UTF8, RECORD_TOO_LARGE, ContentDigest
from tabular.errors import BadTableError
from tabular.formats import TableFormat
from tabular.parquet import RangeReader
from tabular.schema import SchemaInference, check_schema, schema_of_arrow

__all__ = ["PARQUET_TAIL_BYTES", "ScanResult", "TableScan"]

PARQUET_TAIL_BYTES: Final = 16 << 20
MALFORMED: Final = "malformed rows"
UNTERMINATED: Final = "unterminated quote"
_DETAILS: Final = {
    NOT_UTF8: "the table is not UTF-8",
    RECORD_TOO_LARGE: "a record is longer than 16 MiB, the longest a view can read",
    "duplicate column names": "the header repeats a column name",
    "too many columns": "the table has more than 4096 columns",
    "column name too long": "a column name is longer than 1024 bytes",
    UNTERMINATED: "a quoted CSV field is never closed (or a quote stands inside an unquoted "
    "field, which RFC 4180 does not allow)",
    MALFORMED: "rows are malformed: a CSV row whose number of fields differs from the "
    "header's, or a JSON Lines line that is not one JSON object",
}


@dataclass
class ScanResult:
    digest: dict[str, Any] | None
    schema: dict[str, Any] | None
    inference: SchemaInference = field(default_factory=SchemaInference)
    columns: list[str] = field(default_factory=list)

    def check(self, expected: dict[str, Any]) -> None:
        """Fails unless every column and value fits ``expected``; names each difference."""
        check_schema(expected, self.inference, self.columns)


class TableScan:
    """Scans a table body fed in chunks (see the module docstring)."""

    def __init__(self, fmt: TableFormat) -> None:
        self.format = fmt
        self._digest = ContentDigest(fmt) if fmt != "parquet" else None
        self._tail = bytearray()
        self._size = 0
        self._quotes = 0
        self._records = RecordSpan() if fmt == "csv" else None
        self._failure: BadTableError | None = None

    def update(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._digest is not None:
            self._digest.update(chunk)
            if self._records is not None:
                quotes = chunk.count(b'"')
                self._quotes += quotes
                if self._failure is None:
                    try:
                        self._records.update(chunk, quotes)
                    except BadTableError as failure:
                        self._failure = failure
            return
        self._tail += chunk
        if len(self._tail) > 2 * PARQUET_TAIL_BYTES:
            del self._tail[: len(self._tail) - PARQUET_TAIL_BYTES]

    def finish(self) -> ScanResult:
        if self._digest is None:
            return self._parquet()
        digest = self._digest.finalize()
        reason = digest.get("error")
        if reason is None and digest["malformed_rows"]:
            reason = MALFORMED
        if reason is None and self._quotes % 2:
            reason = UNTERMINATED
        if reason is None and self._failure is not None:
            reason = self._failure.reason
        if reason is not None:
            raise BadTableError(reason, _DETAILS.get(reason, "the table is not readable"))
        columns = list(digest["columns"])
        if self.format == "csv" and not columns:
            raise BadTableError("no header", "a CSV table needs a header row naming its columns")
        inference = self._digest.inference
        return ScanResult(digest, inference.schema(columns), inference, columns)

    def _parquet(self) -> ScanResult:
        tail = bytes(self._tail)
        start = self._size - len(tail)

        def read(begin: int, end: int) -> bytes:
            if begin < start:
                raise OSError("the Parquet footer is beyond the scanned tail")
            return tail[begin - start : end - start]

        try:
            arrow_schema = pq.read_schema(RangeReader(self._size, read))
        except (pa.ArrowException, OSError, ValueError):
            raise BadTableError("unreadable", "the body is not readable Parquet") from None
        names = arrow_schema.names
        if len(set(names)) != len(names):
            raise BadTableError("duplicate column names", _DETAILS["duplicate column names"])
        inference = SchemaInference()
        for arrow_field in arrow_schema:
            inference.add_typed(arrow_field.name, arrow_field.type)
        return ScanResult(None, schema_of_arrow(arrow_schema), inference, names)
