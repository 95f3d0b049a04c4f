"""Disclosure views applied to a table on its way out: granted columns, kept rows.

A view is ``{"fields": [name, ...] | None, "where": tree | None}`` (predicates in
``tabular.predicates``). ``apply_view`` reads CSV or JSON Lines from an iterator of plaintext
chunks, Parquet from a seekable file, and yields the output in pieces; memory holds a block
(``reading.BLOCK_BYTES``) or a row group, never the table. Output keeps the input's format
unless ``output="parquet"``, which writes Parquet typed by the schema.

CSV: output in the "excel" dialect with CRLF line ends (RFC 4180): a header of the granted
fields in the view's order (all columns when ``fields`` is None), then the kept rows, values
exactly as deposited. JSON Lines: lines are cut at LF; a field is a dotted path (``"a.b"`` is
``obj["a"]["b"]``); output objects keep the nesting of the granted paths in the view's order,
without the paths a row lacks; with ``fields`` None a kept line is re-emitted as it came,
trimmed. A line that is not one JSON object is skipped and counted as malformed. Parquet:
top-level columns, output without metadata or dictionaries.

Fails closed: a granted field the table lacks, a column the view names twice, bytes that are
not a table of the format raise ``ViewError`` / ``BadTableError``, whose messages carry no data.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import IO, Any, Final

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from tabular.errors import BadTableError, ViewError
from tabular.formats import TableFormat
from tabular.parquet import write_parquet
from tabular.predicates import RowFilter, column_of, compile_filter, parse_view
from tabular.reading import (
    BLOCK_BYTES,
    TARGET_BYTES,
    line_blocks,
    parquet_batches,
    read_batches,
    read_csv_blocks,
    read_csv_header,
    strip_bom,
)
from tabular.schema import arrow_type_for, field_types
from tabular.typed import typed_batch, typed_values

__all__ = ["ViewOutput", "apply_view"]

_JSON_SPACE: Final = b" \t\r"
# Threads that read, filter and write a CSV view's blocks side by side (Arrow releases the
# GIL): measured on 2 cores (benchmarks/views.py), two give ~1.7x one.
CSV_WORKERS: Final = 2


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
        result.chunks = _jsonl(result, chunks, fields, keep, types, out, block_bytes, parquet)
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
    lines = pc.binary_join_element_wise(*columns, "\r\n", ",") if len(columns) > 1 else None
    if lines is None:
        lines = pc.binary_join_element_wise(columns[0], "\r\n", "")
    else:
        lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*columns, ","), "\r\n", "")
    return _string_bytes(lines)


def _csv_quoted(column: pa.Array) -> pa.Array:
    special = pc.or_(
        pc.or_(pc.match_substring(column, ","), pc.match_substring(column, '"')),
        pc.or_(pc.match_substring(column, "\n"), pc.match_substring(column, "\r")),
    )
    if not pc.any(special).as_py():
        return column
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', "")
    return pc.if_else(special, quoted, column)


def _string_bytes(lines: pa.Array) -> bytes:
    """The concatenated values of a string array without nulls (one copy)."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if len(lines) == 0:
        return b""
    _, offsets, data = lines.buffers()
    start, end = 4 * lines.offset, 4 * (lines.offset + len(lines))
    first = int.from_bytes(offsets[start : start + 4].to_pybytes(), "little")
    last = int.from_bytes(offsets[end : end + 4].to_pybytes(), "little")
    return bytes(data[first:last].to_pybytes())


def _jsonl(
    out: ViewOutput,
    chunks: Iterator[bytes],
    fields: list[str] | None,
    keep: RowFilter | None,
    types: dict[str, str],
    output: TableFormat,
    block_bytes: int,
    parquet: dict[str, Any],
) -> Iterator[bytes]:
    blocks = _kept_json(out, chunks, keep, block_bytes)
    if output == "parquet":
        names = fields if fields is not None else list(types)
        schema = pa.schema([(n, arrow_type_for(types.get(n, "string"))) for n in names])
        getters = [_path_getter(name) for name in names]
        batches = (
            pa.RecordBatch.from_arrays(
                [
                    typed_values(
                        types.get(name, "string"), [get(_decoded(line, row)) for line, row in kept]
                    )
                    for name, get in zip(names, getters, strict=True)
                ],
                schema=schema,
            )
            for kept in blocks
        )
        yield from write_parquet(batches, schema, **parquet)
        return
    encoder = msgspec.json.Encoder()
    tree = None if fields is None else _path_tree(fields)
    for kept in blocks:
        if tree is None:
            yield b"\n".join(line for line, _ in kept) + b"\n"
        else:
            rows = [_decoded(line, row) for line, row in kept]
            yield encoder.encode_lines([_pick(row, tree) for row in rows])


def _kept_json(
    out: ViewOutput, chunks: Iterator[bytes], keep: RowFilter | None, block_bytes: int
) -> Iterator[list[tuple[bytes, dict[str, Any]]]]:
    """The kept (line, object) pairs, block by block (never an empty block)."""
    decode = msgspec.json.Decoder().decode
    getters = {name: _path_getter(name) for name in (keep.fields if keep else ())}
    for block in line_blocks(strip_bom(chunks), min(TARGET_BYTES, block_bytes), block_bytes):
        fast = _kept_by_arrow(block, keep)
        if fast is not None:
            lines, kept_lines = fast
            out.count(len(lines), len(kept_lines))
            if kept_lines:
                yield [(line, _LAZY) for line in kept_lines]
            continue
        rows: list[tuple[bytes, dict[str, Any]]] = []
        for line in block.split(b"\n"):
            stripped = line.strip(_JSON_SPACE)
            if not stripped:
                continue
            try:
                row = decode(stripped)
            except (msgspec.DecodeError, ValueError, RecursionError):
                row = None
            if type(row) is not dict:
                out.malformed_rows += 1
                continue
            rows.append((stripped, row))
        kept = rows
        if keep is not None and rows:
            block_rows = [row for _, row in rows]
            mask = keep.mask_columns(
                lambda name, block_rows=block_rows: _json_column(  # type: ignore[misc]
                    [getters[name](row) for row in block_rows]
                ),
                len(rows),
            ).to_pylist()
            kept = [pair for pair, flag in zip(rows, mask, strict=True) if flag]
        out.count(len(rows), len(kept))
        if kept:
            yield kept


_LAZY: Final[dict[str, Any]] = {}  # a kept line not decoded yet (decoded when projected)


def _kept_by_arrow(block: bytes, keep: RowFilter | None) -> tuple[list[bytes], list[bytes]] | None:
    """The block's lines and the kept ones, filtered on Arrow columns; None when Arrow cannot
    read the block exactly as the reference does (then the caller goes line by line).

    Fields the schema types as strings, dates or timestamps are read as strings (Arrow would
    otherwise turn ISO strings into timestamps); a float64 column with magnitudes from 2**53
    may hold integers it rounded; a dotted field that is also a key
    would be read as that key."""
    if keep is None:
        return None  # every line must be checked to be one object: line by line it is
    lines = _lines_of(block)
    try:  # a malformed line is never emitted: any makes the block go line by line
        if not all(type(_DECODE(line)) is dict for line in lines):
            return None
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None
    as_text = [
        pa.field(name, pa.string())
        for name in keep.fields
        if "." not in name and keep.types.get(name, "string") in ("string", "date", "timestamp")
    ]
    parse = pajson.ParseOptions(explicit_schema=pa.schema(as_text), newlines_in_values=False)
    read = pajson.ReadOptions(use_threads=False, block_size=max(len(block) + 1, 1 << 16))
    try:
        table = pajson.read_json(pa.BufferReader(block), read_options=read, parse_options=parse)
        if table.num_rows != len(lines) or any(
            "." in name and name in table.column_names for name in keep.fields
        ):
            return None
        if any(_rounded(column_of(table, name)) for name in keep.fields):
            return None
        kept = pc.indices_nonzero(keep.mask(table)).to_pylist()
    except (pa.ArrowException, ValueError, TypeError):
        return None
    return lines, [lines[index] for index in kept]


def _rounded(column: pa.Array | None) -> bool:
    """Whether a float64 column may hold integers it rounded (magnitudes from 2**53)."""
    if column is None or not pa.types.is_floating(column.type) or len(column) == column.null_count:
        return False
    largest = pc.max(pc.abs(column)).as_py()
    return bool(largest is not None and largest >= 2**53)


def _lines_of(block: bytes) -> list[bytes]:
    """The block's non-blank lines, trimmed; split plainly when nothing needs trimming."""
    if any(mark in block for mark in (b"\r", b"\n\n", b"\n ", b" \n", b"\t")) or block[:1] in (
        b" ",
        b"\n",
    ):
        return [line for line in map(_strip_json_space, block.split(b"\n")) if line]
    lines = block.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return lines


_DECODE: Final = msgspec.json.Decoder().decode


def _decoded(line: bytes, row: dict[str, Any]) -> dict[str, Any]:
    if row is not _LAZY:
        return row
    value: dict[str, Any] = _DECODE(line)
    return value


def _strip_json_space(line: bytes) -> bytes:
    return line.strip(_JSON_SPACE)


def _json_column(values: list[Any]) -> pa.Array | list[Any]:
    """JSON values as an Arrow array when they share one JSON type, else the values."""
    kinds = frozenset(map(type, values)) - {type(None)}
    arrow = _JSON_ARROW.get(kinds)
    if arrow is not None:
        return pa.array(values, type=arrow)
    if kinds == {int} and all(-(2**63) <= v < 2**63 for v in values if v is not None):
        return pa.array(values, type=pa.int64())
    return values


_JSON_ARROW: Final = {
    frozenset({str}): pa.string(),
    frozenset({bool}): pa.bool_(),
    frozenset({float}): pa.float64(),
    frozenset(): pa.string(),
}


PathTree = dict[str, "PathTree | None"]


def _path_tree(paths: list[str]) -> PathTree:
    """Granted paths as nested keys; None grants the whole value (a parent beats its children)."""
    tree: PathTree = {}
    for path in paths:
        node: PathTree | None = tree
        *parents, last = path.split(".")
        for part in parents:
            if node is None:
                break
            node = node.setdefault(part, {})
        if node is not None:
            node[last] = None
    return tree


def _pick(row: dict[str, Any], tree: PathTree) -> dict[str, Any]:
    picked: dict[str, Any] = {}
    for key, sub in tree.items():
        if key in row:
            value = row[key]
            if sub is None:
                picked[key] = value
            elif type(value) is dict and (inner := _pick(value, sub)):
                picked[key] = inner
    return picked


def _path_getter(path: str) -> Callable[[Any], Any]:
    parts = path.split(".")
    if len(parts) == 1:
        return lambda row: row.get(path)

    def get(row: Any) -> Any:
        for part in parts:
            if type(row) is not dict:
                return None
            row = row.get(part)
        return row

    return get
