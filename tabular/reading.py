"""Reading table bytes as Arrow record batches, in bounded memory.

``read_batches(chunks, fmt)`` reads CSV or JSON Lines plaintext given as an iterator of byte
chunks of any size, ``parquet_batches(source)`` a seekable Parquet file; each yields batches
of at most ``block_bytes`` of input (CSV, JSON Lines) or ``batch_rows`` rows (Parquet), reading
only ``columns`` when given. CSV columns are strings, exactly as written (``typed`` casts them
to the schema's types, values that do not read as their type becoming null); JSON Lines
columns have the types Arrow infers. A record longer than ``block_bytes``, a row whose width
differs from the header's, bytes that are not UTF-8, an empty or repeated header name: each
raises ``BadTableError`` (its ``reason`` is stable), never a partial table.

CSV is RFC 4180 ("excel" dialect): comma, double quotes, CRLF or LF, quoted fields may hold
line breaks; one leading UTF-8 BOM is skipped; blank lines are no rows.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from typing import IO, Any, Final

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from tabular.errors import BadTableError
from tabular.formats import TableFormat

__all__ = [
    "BLOCK_BYTES",
    "DUPLICATE_COLUMNS",
    "NOT_UTF8",
    "RAGGED_ROW",
    "RECORD_TOO_LARGE",
    "UNREADABLE",
    "ChunkReader",
    "csv_header",
    "parquet_batches",
    "read_batches",
]

BLOCK_BYTES: Final = 16 << 20  # the longest record a reader takes
NOT_UTF8: Final = "not utf-8"
RECORD_TOO_LARGE: Final = "record too large"
RAGGED_ROW: Final = "ragged row"
DUPLICATE_COLUMNS: Final = "duplicate column names"
UNREADABLE: Final = "unreadable"


class ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (what Arrow's readers pull from)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def read_batches(
    chunks: Iterator[bytes],
    fmt: TableFormat,
    *,
    columns: list[str] | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[pa.RecordBatch]:
    """The CSV or JSON Lines table in ``chunks`` as record batches (see the module docstring)."""
    if fmt == "csv":
        return _csv_batches(chunks, columns, block_bytes)
    if fmt == "jsonl":
        return _jsonl_batches(chunks, columns, block_bytes)
    raise ValueError("Parquet needs random access: use parquet_batches")


def csv_header(head: bytes) -> list[str] | None:
    """The header of a CSV body beginning with ``head`` (None: not all of it is there yet)."""
    head = head.removeprefix(codecs.BOM_UTF8)
    try:
        text = head.decode()
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:
            raise BadTableError(NOT_UTF8, "the CSV body is not UTF-8") from None
        text = head[: error.start].decode()
    lines = io.StringIO(text)
    reader = csv.reader(lines)
    try:
        for row in reader:
            if not row:
                continue
            if not text[lines.tell() - 1 :].startswith("\n") and lines.tell() == len(text):
                return None  # the header may go on
            return row
    except csv.Error:
        raise BadTableError(UNREADABLE, "the CSV header is not readable") from None
    return None


def _csv_batches(
    chunks: Iterator[bytes], columns: list[str] | None, block_bytes: int
) -> Iterator[pa.RecordBatch]:
    head, chunks = _peek_header(chunks, block_bytes)
    header = csv_header(head) or []
    if not header:
        return
    if len(set(header)) != len(header) or not all(header):
        raise BadTableError(DUPLICATE_COLUMNS, "the CSV header repeats or omits a column name")
    wanted = columns if columns is not None else header
    reader = _guard(
        lambda: pacsv.open_csv(
            ChunkReader(_strip_bom(chunks)),
            read_options=pacsv.ReadOptions(block_size=block_bytes, use_threads=False),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                include_columns=wanted,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    )
    while (batch := _guard(lambda: next(reader, None))) is not None:
        yield batch


def _jsonl_batches(
    chunks: Iterator[bytes], columns: list[str] | None, block_bytes: int
) -> Iterator[pa.RecordBatch]:
    reader = _guard(
        lambda: pajson.open_json(
            ChunkReader(_strip_bom(chunks)),
            read_options=pajson.ReadOptions(block_size=block_bytes, use_threads=False),
        )
    )
    while (batch := _guard(lambda: next(reader, None))) is not None:
        yield (
            batch
            if columns is None
            else batch.select([c for c in columns if c in batch.schema.names])
        )


def parquet_batches(
    source: IO[bytes], *, columns: list[str] | None = None, batch_rows: int = 64 << 10
) -> Iterator[pa.RecordBatch]:
    """A Parquet file's batches, row group after row group, one thread, ``columns`` only."""
    file = _guard(lambda: pq.ParquetFile(source))
    # One reader per row group: a reader over many keeps memory for each row group it has
    # read (apache/arrow#39808). One thread: predictable memory.
    for group in range(file.num_row_groups):
        batches = _guard(
            lambda group=group: file.iter_batches(
                batch_rows, row_groups=[group], columns=columns, use_threads=False
            )
        )
        while (batch := _guard(lambda batches=batches: next(batches, None))) is not None:
            yield batch


def _peek_header(chunks: Iterator[bytes], limit: int) -> tuple[bytes, Iterator[bytes]]:
    """The first bytes, up to the end of the header, and the chunks with them put back."""
    held = bytearray()
    for chunk in chunks:
        held += chunk
        if csv_header(bytes(held)) is not None:
            break
        if len(held) > limit:
            raise BadTableError(RECORD_TOO_LARGE, "the CSV header is longer than a block")
    first = bytes(held)
    return first, _chain(first, chunks)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _strip_bom(chunks: Iterator[bytes]) -> Iterator[bytes]:
    head = b""
    for chunk in chunks:
        if head is not None:
            head += chunk
            if len(head) < 3 and codecs.BOM_UTF8.startswith(head):
                continue
            chunk, head = head.removeprefix(codecs.BOM_UTF8), None  # type: ignore[assignment]
        yield chunk
    if head:
        yield head


def _guard(step: Any) -> Any:
    """Runs a reader step; Arrow's errors (whose messages may quote data) become reasons."""
    try:
        return step()
    except pa.ArrowInvalid as error:
        raise BadTableError(_reason(str(error)), _DETAILS[_reason(str(error))]) from None
    except (pa.ArrowException, OSError, ValueError, TypeError, OverflowError):
        raise BadTableError(UNREADABLE, _DETAILS[UNREADABLE]) from None


def _reason(message: str) -> str:
    if "UTF8" in message or "UTF-8" in message or "utf8" in message:
        return NOT_UTF8
    if "straddling" in message or "block" in message:
        return RECORD_TOO_LARGE
    if "Expected" in message and "columns" in message:
        return RAGGED_ROW
    return UNREADABLE


_DETAILS: Final = {
    NOT_UTF8: "the table is not UTF-8",
    RECORD_TOO_LARGE: "a record is longer than the reader's block",
    RAGGED_ROW: "a row's number of fields differs from the header's",
    UNREADABLE: "the table is not readable in its format",
    DUPLICATE_COLUMNS: "the header repeats or omits a column name",
}
