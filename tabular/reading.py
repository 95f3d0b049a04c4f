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

Where a CSV body's records end is ``tabular.csv_records``'s to find; the limits and the
reasons a table is refused are ``tabular.reading_rules``'s.
"""

from __future__ import annotations

import codecs
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Final, TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from tabular.csv_records import after_header, read_csv_header, record_blocks
from tabular.errors import BadTableError
from tabular.formats import TableFormat
from tabular.reading_rules import (
    BLOCK_BYTES,
    DETAILS,
    DUPLICATE_COLUMNS,
    RECORD_TOO_LARGE,
    TARGET_BYTES,
    guard,
)

__all__ = [
    "CSV_PARSE",
    "as_written",
    "line_blocks",
    "ordered_map",
    "parquet_batches",
    "read_batches",
    "read_csv_blocks",
    "strip_bom",
]

A = TypeVar("A")
T = TypeVar("T")


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
        table = guard(
            lambda: pacsv.read_csv(
                pa.BufferReader(block),
                read_options=options,
                parse_options=parse,
                convert_options=convert,
            )
        )
        return then(table)

    body = after_header(strip_bom(chunks))
    # Whole records a block at a time, each parsed on its own: Arrow's streaming reader reads
    # about a dozen blocks ahead, 200 MiB at the 16 MiB a record may take.
    blocks = record_blocks(body, min(TARGET_BYTES, block_bytes), block_bytes)
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


def _jsonl_batches(
    chunks: Iterator[bytes], columns: list[str] | None, block_bytes: int
) -> Iterator[pa.RecordBatch]:
    """Blocks of whole lines, each read on its own (types are inferred per block)."""
    for block in line_blocks(strip_bom(chunks), min(TARGET_BYTES, block_bytes), block_bytes):
        read = pajson.ReadOptions(use_threads=False, block_size=max(len(block) + 1, 1 << 16))
        table = guard(
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
            raise BadTableError(RECORD_TOO_LARGE, DETAILS[RECORD_TOO_LARGE])
    if len(held) > limit:
        raise BadTableError(RECORD_TOO_LARGE, DETAILS[RECORD_TOO_LARGE])
    if held:
        yield bytes(held)


def parquet_batches(
    source: IO[bytes], *, columns: list[str] | None = None, batch_rows: int = 16 << 10
) -> Iterator[pa.RecordBatch]:
    """A Parquet file's batches, row group after row group, one thread, ``columns`` only."""
    # Buffered, not pre-buffered: column chunks are read page by page, so memory holds a
    # batch and a page per column, not a whole row group.
    file = guard(lambda: pq.ParquetFile(source, buffer_size=1 << 20, pre_buffer=False))
    # One reader per row group: a reader over many keeps memory for each row group it has
    # read (apache/arrow#39808). One thread: predictable memory.
    for group in range(file.num_row_groups):
        batches = guard(
            lambda group=group: file.iter_batches(
                batch_rows, row_groups=[group], columns=columns, use_threads=False
            )
        )
        while (batch := guard(lambda batches=batches: next(batches, None))) is not None:
            yield batch


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
