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
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, Final, TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from tabular.errors import BadTableError
from tabular.formats import TableFormat

__all__ = [
    "BLOCK_BYTES",
    "CSV_PARSE",
    "DUPLICATE_COLUMNS",
    "NOT_UTF8",
    "RAGGED_ROW",
    "RECORD_TOO_LARGE",
    "TARGET_BYTES",
    "UNREADABLE",
    "RecordSpan",
    "as_written",
    "csv_header",
    "line_blocks",
    "ordered_map",
    "parquet_batches",
    "read_batches",
    "read_csv_blocks",
    "strip_bom",
]

A = TypeVar("A")
T = TypeVar("T")

BLOCK_BYTES: Final = 16 << 20  # the longest record a reader takes
NOT_UTF8: Final = "not utf-8"
RECORD_TOO_LARGE: Final = "record too large"
RAGGED_ROW: Final = "ragged row"
DUPLICATE_COLUMNS: Final = "duplicate column names"
UNREADABLE: Final = "unreadable"


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


def csv_header(head: bytes, *, final: bool = False) -> list[str] | None:
    """The header of a CSV body beginning with ``head`` (None: not all of it is there yet,
    or, when ``final``, the body has none)."""
    head = head.removeprefix(codecs.BOM_UTF8)
    if not final:
        end = _header_end(bytearray(head))
        if end is None:
            return None
        head = head[:end]  # the header's whole record only
    try:
        text = head.decode()
    except UnicodeDecodeError:
        raise BadTableError(NOT_UTF8, "the CSV body is not UTF-8") from None
    try:
        return next((row for row in csv.reader(io.StringIO(text)) if row), None)
    except csv.Error:
        if final:
            raise BadTableError(UNREADABLE, "the CSV header is not readable") from None
        return None  # a quoted name goes on past the last line


def _csv_batches(
    chunks: Iterator[bytes], columns: list[str] | None, block_bytes: int
) -> Iterator[pa.RecordBatch]:
    for table in read_csv_blocks(
        chunks, lambda table: table, columns=columns, block_bytes=block_bytes
    ):
        yield from table.to_batches()


def read_csv_blocks(
    chunks: Iterator[bytes],
    then: Callable[[pa.Table], T],
    *,
    columns: list[str] | None = None,
    block_bytes: int = BLOCK_BYTES,
    workers: int = 1,
) -> Iterator[T]:
    """``then(table)`` for each block of whole CSV records read as a table, in order.

    With ``workers`` > 1 the blocks are parsed and given to ``then`` on that many threads
    (Arrow's parser and compute kernels release the GIL), at most ``2 * workers`` blocks
    ahead of the consumer, so memory stays a few blocks whatever the size of the body.
    """
    header, chunks = read_csv_header(chunks, block_bytes)
    if not header:
        return
    if len(set(header)) != len(header):
        raise BadTableError(DUPLICATE_COLUMNS, "the CSV header repeats a column name")
    convert = as_written(header, columns)
    parse = CSV_PARSE

    def read(block: bytes) -> T:
        options = pacsv.ReadOptions(
            column_names=header, use_threads=False, block_size=max(len(block) + 1, 1 << 16)
        )
        table = _guard(
            lambda: pacsv.read_csv(
                pa.BufferReader(block),
                read_options=options,
                parse_options=parse,
                convert_options=convert,
            )
        )
        return then(table)

    body = _after_header(strip_bom(chunks))
    # Whole records a block at a time, each parsed on its own: Arrow's streaming reader reads
    # about a dozen blocks ahead, 200 MiB at the 16 MiB a record may take.
    blocks = _record_blocks(body, min(TARGET_BYTES, block_bytes), block_bytes)
    if workers <= 1:
        yield from map(read, blocks)
    else:
        yield from ordered_map(read, blocks, workers)


# RFC 4180 records, whose quoted fields may hold line breaks.
CSV_PARSE: Final = pacsv.ParseOptions(newlines_in_values=True)


def as_written(header: list[str], columns: list[str] | None = None) -> pacsv.ConvertOptions:
    """Every column (or ``columns`` of them) as strings exactly as written: no value read as
    null, bytes that are not UTF-8 refused."""
    return pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        include_columns=columns if columns is not None else header,
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        check_utf8=True,
    )


def ordered_map(function: Callable[[A], T], items: Iterator[A], workers: int) -> Iterator[T]:
    """``function(item)`` for each item, in order, on ``workers`` threads, at most
    ``2 * workers`` items ahead; the items themselves are drawn in the caller's thread.
    Closing the iterator early cancels what was not started and waits for what was."""
    with ThreadPoolExecutor(workers, thread_name_prefix="tabular") as pool:
        pending: deque[Future[T]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


TARGET_BYTES: Final = 1 << 20  # the input a batch is read from, unless a record is longer


def _after_header(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The body after its header record (the chunks start at the body's first byte)."""
    held = bytearray()
    for chunk in chunks:
        held += chunk
        end = _header_end(held)
        if end is not None:
            yield bytes(held[end:])
            yield from chunks
            return
    end = _header_end(held, final=True)
    if end is not None and end < len(held):
        yield bytes(held[end:])


def _header_end(held: bytearray, *, final: bool = False) -> int | None:
    """Where the first non-blank record ends (after its line end), once it is whole."""
    last = held.rfind(b"\n")
    text = bytes(held if final else held[: last + 1]).decode(errors="replace")
    reader = csv.reader(io.StringIO(text))
    try:
        for row in reader:
            if row:
                end = 0
                for _ in range(reader.line_num):
                    end = held.find(b"\n", end) + 1
                    if end == 0:
                        return len(held)
                # The csv module ends a quoted field at the end of its input: with an odd
                # number of quotes the record goes on past the lines held so far.
                if not final and held.count(b'"', 0, end) % 2:
                    return None
                return end
    except csv.Error:
        pass
    return len(held) if final else None


def _record_blocks(chunks: Iterator[bytes], target: int, limit: int) -> Iterator[bytes]:
    """The body in blocks of whole records (cut at a line end outside quotes), about
    ``target`` bytes each; a record over ``limit`` raises."""
    held = bytearray()
    retry_at = target
    for chunk in chunks:
        held += chunk
        if len(held) < retry_at:
            continue
        cut = _cut(held)
        if cut:
            yield bytes(held[:cut])
            del held[:cut]
        # A record longer than the target: look again at twice the bytes (linear time).
        retry_at = max(target, 2 * len(held)) if not cut else target
        if len(held) > limit:
            raise BadTableError(RECORD_TOO_LARGE, _DETAILS[RECORD_TOO_LARGE])
    if len(held) > limit:
        raise BadTableError(RECORD_TOO_LARGE, _DETAILS[RECORD_TOO_LARGE])
    if held.strip(b"\r\n"):  # a line of spaces is a row (of one field)
        yield bytes(held) if held.endswith(b"\n") else bytes(held) + b"\n"


def _cut(held: bytearray | bytes, odd_at_end: int | None = None) -> int:
    """The end of the last line outside quotes by quote parity (exact for RFC 4180); 0 if none.

    ``odd_at_end``: the parity of the quotes before the end, if ``held`` does not start at a
    record's start."""
    odd = held.count(b'"') % 2 if odd_at_end is None else odd_at_end
    end = len(held)
    while True:
        quote = held.rfind(b'"', 0, end)
        if not odd and (newline := held.rfind(b"\n", quote + 1, end)) >= 0:
            return newline + 1
        if quote < 0:
            return 0
        odd, end = odd ^ 1, quote


def _jsonl_batches(
    chunks: Iterator[bytes], columns: list[str] | None, block_bytes: int
) -> Iterator[pa.RecordBatch]:
    """Blocks of whole lines, each read on its own (types are inferred per block)."""
    for block in line_blocks(strip_bom(chunks), min(TARGET_BYTES, block_bytes), block_bytes):
        read = pajson.ReadOptions(use_threads=False, block_size=max(len(block) + 1, 1 << 16))
        table = _guard(
            lambda block=block, read=read: pajson.read_json(
                pa.BufferReader(block), read_options=read
            )
        )
        for batch in table.to_batches():
            if columns is None:
                yield batch
            else:
                yield batch.select([name for name in columns if name in batch.schema.names])


def line_blocks(chunks: Iterator[bytes], target: int, limit: int) -> Iterator[bytes]:
    """Whole lines, about ``target`` bytes at a time; a line over ``limit`` raises."""
    held = bytearray()
    for chunk in chunks:
        held += chunk
        if len(held) < target:
            continue
        end = held.rfind(b"\n") + 1
        if end:
            yield bytes(held[:end])
            del held[:end]
        if len(held) > limit:
            raise BadTableError(RECORD_TOO_LARGE, _DETAILS[RECORD_TOO_LARGE])
    if len(held) > limit:
        raise BadTableError(RECORD_TOO_LARGE, _DETAILS[RECORD_TOO_LARGE])
    if held:
        yield bytes(held)


def parquet_batches(
    source: IO[bytes], *, columns: list[str] | None = None, batch_rows: int = 16 << 10
) -> Iterator[pa.RecordBatch]:
    """A Parquet file's batches, row group after row group, one thread, ``columns`` only."""
    # Buffered, not pre-buffered: column chunks are read page by page, so memory holds a
    # batch and a page per column, not a whole row group.
    file = _guard(lambda: pq.ParquetFile(source, buffer_size=1 << 20, pre_buffer=False))
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


def read_csv_header(chunks: Iterator[bytes], limit: int) -> tuple[list[str], Iterator[bytes]]:
    """The CSV header (empty for an empty body) and the chunks with what was read put back."""
    first, chunks = _peek_header(chunks, limit)
    header = csv_header(first) or csv_header(first, final=True) or []
    return header, chunks


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def strip_bom(chunks: Iterator[bytes]) -> Iterator[bytes]:
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
    DUPLICATE_COLUMNS: "the header repeats a column name",
}


class RecordSpan:
    """Follows a CSV body chunk by chunk as ``read_batches`` cuts it into records (by quote
    parity) and raises ``BadTableError`` once a record is longer than ``limit``: a deposit
    refused here is one a view could not read."""

    def __init__(self, limit: int = BLOCK_BYTES) -> None:
        self._limit = limit
        self._odd = 0
        self._open = 0  # bytes since the last record's end

    def update(self, chunk: bytes) -> None:
        odd = (self._odd + chunk.count(b'"')) % 2
        cut = _cut(chunk, odd)
        self._open = len(chunk) - cut if cut else self._open + len(chunk)
        self._odd = odd
        if self._open > self._limit:
            raise BadTableError(RECORD_TOO_LARGE, _DETAILS[RECORD_TOO_LARGE])
