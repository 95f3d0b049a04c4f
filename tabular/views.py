"""Disclosure views applied to a table on its way out: granted columns, kept rows.

A view is ``{"fields": [name, ...] | None, "where": tree | None}`` (predicates in
``tabular.predicates``). ``apply_view`` reads CSV or JSON Lines from an iterator of plaintext
chunks, Parquet from a seekable file, and yields the output in pieces; memory holds a block
(``reading_rules.BLOCK_BYTES``) or a row group, never the table. Output keeps the input's format
unless ``output="parquet"``, which writes Parquet typed by the schema.

CSV: output in the "excel" dialect with CRLF line ends (RFC 4180): a header of the granted
fields in the view's order (all columns when ``fields`` is None), then the kept rows, values
exactly as deposited. JSON Lines: see ``tabular.jsonl_view``. Parquet: top-level columns,
output without metadata or dictionaries.

Fails closed: a granted field the table lacks, a column the view names twice, bytes that are
not a table of the format raise ``ViewError`` / ``BadTableError``, whose messages carry no data.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO, Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from tabular.buffers import joined
from tabular.csv_records import read_csv_header
from tabular.errors import BadTableError, ViewError
from tabular.formats import TableFormat
from tabular.jsonl_view import jsonl_view
from tabular.parquet import write_parquet
from tabular.predicates import RowFilter, compile_filter, parse_view
from tabular.reading import parquet_batches, read_batches, read_csv_blocks
from tabular.reading_rules import BLOCK_BYTES
from tabular.schema import arrow_type_for, field_types
from tabular.typed import typed_batch

__all__ = ["ViewOutput", "apply_view"]

# Threads that read, filter and write a CSV view's blocks side by side (Arrow releases the
# GIL): measured on 2 cores (benchmarks/views.py), two give ~1.7x one.
CSV_WORKERS: Final = 2
_SPECIAL: Final = '[,"\r\n]'  # a CSV value holding one of these is quoted


def apply_view(
    fmt: TableFormat,
    view: dict[str, Any],
    schema: dict[str, Any] | None,
    *,
    chunks: Iterator[bytes] | None = None,
    source: IO[bytes] | None = None,
    output: TableFormat | None = None,
    block_bytes: int = BLOCK_BYTES,
    batch_rows: int = 16 << 10,
    group_rows: int = 1 << 16,
    compression: str = "snappy",
) -> ViewOutput:
    """The view applied to a table: ``chunks`` for CSV and JSON Lines, ``source`` for Parquet.

    ``batch_rows`` (Parquet input), ``group_rows`` and ``compression`` (Parquet output) tune
    memory and size."""
    parquet = {"group_rows": group_rows, "compression": compression}
    fields, where = parse_view(view)
    types = field_types(schema)
    keep = None if where is None else compile_filter(where, types)
    out = output or fmt
    result = ViewOutput()
    if fmt == "parquet":
        if source is None:
            raise ValueError("Parquet needs a seekable source")
        result.chunks = _parquet(result, source, fields, keep, batch_rows, parquet)
    elif chunks is None:
        raise ValueError("CSV and JSON Lines need chunks")
    elif fmt == "csv":
        result.chunks = _csv(result, chunks, fields, keep, types, out, block_bytes, parquet)
    else:
        result.chunks = jsonl_view(result, chunks, fields, keep, types, out, block_bytes, parquet)
    return result


class ViewOutput:
    """Iterates the output's bytes; counts rows as it goes (complete once exhausted)."""

    def __init__(self) -> None:
        self.rows_scanned = self.rows_returned = self.malformed_rows = 0
        self.chunks: Iterator[bytes] = iter(())

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self.chunks)

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()

    def count(self, scanned: int, returned: int) -> None:
        self.rows_scanned += scanned
        self.rows_returned += returned


def _check_columns(names: list[str], fields: list[str] | None, keep: RowFilter | None) -> None:
    named = set(fields or ()) | (keep.fields if keep else set())
    if any(names.count(name) > 1 for name in named):
        raise ViewError("the table repeats a column the view names")
    if any(name not in names for name in fields or ()):
        raise ViewError("the table lacks a granted column")


def _parquet(
    out: ViewOutput,
    source: IO[bytes],
    fields: list[str] | None,
    keep: RowFilter | None,
    batch_rows: int,
    parquet: dict[str, Any],
) -> Iterator[bytes]:
    import pyarrow.parquet as pq

    try:
        arrow_schema = pq.read_schema(source)
        source.seek(0)
    except (pa.ArrowException, OSError, ValueError):
        raise BadTableError("unreadable", "the table is not readable Parquet") from None
    names = arrow_schema.names
    _check_columns(names, fields, keep)
    wanted = fields if fields is not None else names
    extra = sorted(n for n in (keep.fields if keep else set()) - set(wanted) if n in names)
    read = None if fields is None else [*wanted, *extra]
    out_schema = pa.schema([arrow_schema.field(name) for name in wanted])

    def granted() -> Iterator[pa.RecordBatch]:
        for batch in parquet_batches(source, columns=read, batch_rows=batch_rows):
            kept = batch if keep is None else keep.apply(batch)
            out.count(batch.num_rows, kept.num_rows)
            yield kept.select(wanted)

    yield from write_parquet(granted(), out_schema, **parquet)


def _csv(
    out: ViewOutput,
    chunks: Iterator[bytes],
    fields: list[str] | None,
    keep: RowFilter | None,
    types: dict[str, str],
    output: TableFormat,
    block_bytes: int,
    parquet: dict[str, Any],
) -> Iterator[bytes]:
    header, chunks = read_csv_header(chunks, block_bytes)
    if not header:  # an empty body: an empty view
        return
    _check_columns(header, fields, keep)
    wanted = fields if fields is not None else header
    named = keep.fields if keep else set()
    read = [name for name in header if name in set(wanted) | named]

    def granted() -> Iterator[pa.RecordBatch]:
        for batch in read_batches(chunks, "csv", columns=read, block_bytes=block_bytes):
            kept = batch if keep is None else keep.apply(batch)
            out.count(batch.num_rows, kept.num_rows)
            yield kept.select(wanted)

    if output == "parquet":
        schema = pa.schema([(name, arrow_type_for(types.get(name, "string"))) for name in wanted])
        yield from write_parquet((typed_batch(b, types) for b in granted()), schema, **parquet)
        return

    def rows_of(table: pa.Table) -> tuple[int, int, bytes]:  # on a reader thread
        kept = table if keep is None else keep.apply(table)
        lines = b"".join(_csv_rows(b) for b in kept.select(wanted).to_batches() if b.num_rows)
        return table.num_rows, kept.num_rows, lines

    yield _csv_line(wanted)
    blocks = read_csv_blocks(
        chunks, rows_of, columns=read, block_bytes=block_bytes, workers=CSV_WORKERS
    )
    for scanned, returned, lines in blocks:
        out.count(scanned, returned)
        if lines:
            yield lines


def _csv_line(row: list[str]) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerow(row)
    return text.getvalue().encode()


def _csv_rows(batch: pa.RecordBatch) -> bytes:
    """Rows as the csv module writes them: a value is quoted (quotes doubled) when it holds a
    comma, a quote, CR or LF, and a lone empty value is written as ``""``."""
    columns = [_csv_quoted(column) for column in batch.columns]
    if len(columns) == 1:
        lone = pc.equal(columns[0], "")
        columns = [pc.if_else(lone, '""', columns[0])]
    lines = pc.binary_join_element_wise(*columns, ",") if len(columns) > 1 else columns[0]
    return bytes(joined(lines, "\r\n")) + b"\r\n"


def _csv_quoted(column: pa.Array) -> pa.Array:
    special = pc.match_substring_regex(column, _SPECIAL)
    if not pc.any(special).as_py():
        return column
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', "")
    return pc.if_else(special, quoted, column)
