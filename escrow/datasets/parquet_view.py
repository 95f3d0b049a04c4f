"""Disclosure views over Parquet: only the granted columns and the kept rows, as Parquet.

Parquet is read from its footer, so it needs random access: ``parquet_view`` takes a seekable
binary file (``RangeReader`` makes one from a function that reads a byte range, such as a
segment-aligned range decryption) and yields the output in pieces. The input is read a batch
of ``batch_rows`` rows at a time, row group after row group, reading only the columns the
view names; the output is a Parquet file of the same media type written by
``ParquetWriter`` into a buffer drained after every output row group (``group_rows`` rows or
32 MiB of Arrow data, whichever comes first), so memory holds a batch and a row group, not the
dataset.

Fields are top-level columns; output columns come in the view's order (the file's order when
``fields`` is None). Predicates mean what ``view_predicates`` says, over the values the
columns hold: computed with ``pyarrow.compute`` when the column's Arrow type matches the
schema type (numbers, strings, booleans, date32, timestamps), otherwise value by value.

Fails closed: the output keeps no metadata of the input (pandas metadata names every column)
and no dictionaries (a dictionary may hold values of rows that were filtered out); a file
pyarrow cannot read, a granted column it lacks or a column the view names twice raises
``ViewError``, whose message carries no data (pyarrow's messages may, so they are dropped).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import IO, Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from escrow.datasets.view_predicates import (
    ViewError,
    coerce,
    compile_where,
    field_types,
    parse_view,
    value_matcher,
    where_fields,
)

__all__ = ["ParquetView", "RangeReader", "parquet_view"]

_COMPARE: Final = {
    "eq": pc.equal,
    "ne": pc.not_equal,
    "lt": pc.less,
    "le": pc.less_equal,
    "gt": pc.greater,
    "ge": pc.greater_equal,
}
_EXACT_FLOAT_INT: Final = 2**53  # integers a float64 holds exactly
_INT64: Final = range(-(2**63), 2**63)
_GROUP_BYTES: Final = 32 << 20  # an output row group also ends at this much held data
_UNREADABLE: Final = "the dataset is not readable Parquet: the download is aborted"


def parquet_view(
    source: IO[bytes],
    view: dict[str, Any],
    schema: dict[str, Any] | None,
    *,
    batch_rows: int = 64 << 10,
    group_rows: int = 1 << 17,
    compression: str = "snappy",
) -> ParquetView:
    """The view applied to the Parquet file ``source``: an iterator of output bytes."""
    return ParquetView(
        source,
        view,
        schema,
        batch_rows=batch_rows,
        group_rows=group_rows,
        compression=compression,
    )


class ParquetView:
    """Iterates the output Parquet file's bytes; counts rows as it goes (none are malformed)."""

    def __init__(
        self,
        source: IO[bytes],
        view: dict[str, Any],
        schema: dict[str, Any] | None,
        *,
        batch_rows: int,
        group_rows: int,
        compression: str,
    ) -> None:
        self.fields, self.where = parse_view(view)
        self.types = field_types(schema)
        if self.where is not None:
            compile_where(self.where, self.types, lambda name: None)  # checks the tree's shape
        self.rows_scanned = self.rows_returned = self.malformed_rows = 0
        self._batch_rows, self._group_rows, self._compression = batch_rows, group_rows, compression
        self._chunks = self._generate(source)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def _generate(self, source: IO[bytes]) -> Iterator[bytes]:
        try:
            yield from self._transform(source)
        except (pa.ArrowException, OSError, ValueError, TypeError, OverflowError):
            raise ViewError(_UNREADABLE) from None

    def _transform(self, source: IO[bytes]) -> Iterator[bytes]:
        file = pq.ParquetFile(source)
        keep, columns, out_schema = self._plan(file.schema_arrow)
        sink = _Drain()
        writer = pq.ParquetWriter(sink, out_schema, compression=self._compression)
        pending: list[pa.RecordBatch] = []
        rows = size = 0
        for batch in self._batches(file, columns):
            granted = self._granted(batch, keep, out_schema)
            if granted.num_rows:
                pending.append(granted)
                rows, size = rows + granted.num_rows, size + granted.nbytes
            if rows >= self._group_rows or size >= _GROUP_BYTES:
                writer.write_table(pa.Table.from_batches(pending, out_schema))
                pending, rows, size = [], 0, 0
                yield sink.take()
        if pending:
            writer.write_table(pa.Table.from_batches(pending, out_schema))
        writer.close()
        yield sink.take()

    def _batches(self, file: pq.ParquetFile, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
        """The file's batches, row group after row group, on this thread only."""
        # One reader per row group: a reader over many keeps memory for each row group it has
        # read, so a 1 GiB file held ~0.5 GiB (apache/arrow#39808). One thread: predictable
        # memory, and the other cores serve other downloads.
        for group in range(file.num_row_groups):
            yield from file.iter_batches(
                self._batch_rows, row_groups=[group], columns=columns, use_threads=False
            )

    def _granted(
        self, batch: pa.RecordBatch, keep: list[str] | None, out_schema: pa.Schema
    ) -> pa.RecordBatch:
        """The batch's kept rows, granted columns only, in the bare output types."""
        self.rows_scanned += batch.num_rows
        if self.where is not None:
            batch = batch.filter(self._mask(self.where, batch))
        self.rows_returned += batch.num_rows
        return (batch if keep is None else batch.select(keep)).cast(out_schema)

    def _plan(
        self, arrow_schema: pa.Schema
    ) -> tuple[list[str] | None, list[str] | None, pa.Schema]:
        """The columns to keep and to read (None: all), and the output schema."""
        names = arrow_schema.names
        named = set(self.fields or ()) | where_fields(self.where)
        if any(names.count(name) > 1 for name in named):
            raise ViewError("the Parquet file repeats a column the view names")
        if any(name not in names for name in self.fields or ()):
            raise ViewError("the Parquet file lacks a granted column")
        if self.fields is None:
            return None, None, pa.schema([_bare_field(field) for field in arrow_schema])
        extra = sorted(name for name in named - set(self.fields) if name in names)
        out_schema = pa.schema([_bare_field(arrow_schema.field(name)) for name in self.fields])
        return self.fields, self.fields + extra, out_schema

    def _mask(self, node: dict[str, Any], batch: pa.RecordBatch) -> pa.Array:
        if "field" not in node:
            combine, nodes = (pc.and_, node["all"]) if "all" in node else (pc.or_, node["any"])
            children = [self._mask(child, batch) for child in nodes]
            mask = children[0]
            for child in children[1:]:
                mask = combine(mask, child)
            return mask
        name, op, value = node["field"], node["op"], node["value"]
        if name not in batch.schema.names:
            return _constant(False, batch.num_rows)
        kind = self.types.get(name, "string")
        return _leaf_mask(kind, op, value, batch.column(name))


def _leaf_mask(kind: str, op: str, value: Any, column: pa.Array) -> pa.Array:
    """Rows whose value satisfies the leaf, without nulls; vectorised where the types match."""
    targets = [coerce(kind, v) for v in (value if op == "in" else [value])]
    targets = [target for target in targets if target is not None]
    if not targets:
        return _constant(False, len(column))
    try:
        arrow = _arrow_form(kind, column, targets)
        if arrow is not None:
            return _compare(op, *arrow, targets)
    except (pa.ArrowException, ValueError, OverflowError):
        pass  # out of Arrow's range: Python decides
    match = value_matcher(kind, op, value)
    try:
        values = column.to_pylist()
    except (pa.ArrowException, ValueError, OverflowError):  # values Python cannot hold
        return _constant(False, len(column))
    return pa.array([match(v) for v in values], type=pa.bool_())


def _compare(op: str, column: pa.Array, arrow_type: pa.DataType, targets: list[Any]) -> pa.Array:
    if op == "in":
        mask = pc.is_in(column, value_set=pa.array(targets, type=arrow_type))
    else:
        mask = _COMPARE[op](column, pa.scalar(targets[0], type=arrow_type))
    if pa.types.is_floating(column.type):  # NaN and infinities are no numbers: never match
        mask = pc.and_(mask, pc.is_finite(column))
    return pc.fill_null(mask, False)


def _arrow_form(
    kind: str, column: pa.Array, targets: list[Any]
) -> tuple[pa.Array, pa.DataType] | None:
    """The column cast so that Arrow compares it exactly as Python would, or None."""
    types = pa.types
    if types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    t = column.type
    if kind in ("integer", "number"):
        return _numeric_form(column, targets)
    if kind == "string" and (types.is_string(t) or types.is_large_string(t)):
        return column, t
    if kind == "boolean" and types.is_boolean(t):
        return column, t
    if kind == "date" and types.is_date32(t) and all(type(v) is date for v in targets):
        return column, t
    if kind == "timestamp" and types.is_timestamp(t):
        if not all(isinstance(v, datetime) for v in targets):
            return None
        # Python holds microseconds and datetime.fromisoformat truncates finer digits: floor
        # nanoseconds likewise; seconds and milliseconds widen exactly.
        utc = pa.timestamp("us", tz="UTC")
        column = column.cast(pa.timestamp(t.unit, tz="UTC"))
        if t.unit == "ns":
            column = pc.floor_temporal(column, unit="microsecond")
        return column.cast(utc), utc
    return None


def _numeric_form(column: pa.Array, targets: list[Any]) -> tuple[pa.Array, pa.DataType] | None:
    types, t = pa.types, column.type
    exact_ints = types.is_signed_integer(t) or t in (pa.uint8(), pa.uint16(), pa.uint32())
    if exact_ints:
        if any(type(v) is float for v in targets):
            if not all(v.is_integer() for v in targets if type(v) is float):
                return None  # 2 < 2.5 on integers: leave it to Python
            targets[:] = [int(v) for v in targets]
        if not all(v in _INT64 for v in targets):
            return None
        return column.cast(pa.int64()), pa.int64()
    if types.is_floating(t) and all(
        type(v) is float or abs(v) <= _EXACT_FLOAT_INT for v in targets
    ):
        return column.cast(pa.float64()), pa.float64()
    return None


def _constant(value: bool, length: int) -> pa.Array:
    return pc.fill_null(pa.nulls(length, pa.bool_()), value)


def _bare_field(field: pa.Field) -> pa.Field:
    """The field without metadata and without dictionaries, however deeply nested."""
    return pa.field(field.name, _bare_type(field.type), field.nullable)


def _bare_type(t: pa.DataType) -> pa.DataType:
    types = pa.types
    if types.is_dictionary(t):
        return _bare_type(t.value_type)
    if types.is_struct(t):
        return pa.struct([_bare_field(t.field(i)) for i in range(t.num_fields)])
    if types.is_list(t):
        return pa.list_(_bare_field(t.value_field))
    if types.is_large_list(t):
        return pa.large_list(_bare_field(t.value_field))
    if types.is_map(t):
        return pa.map_(_bare_field(t.key_field), _bare_field(t.item_field))
    return t


class _Drain:
    """A write-only file whose bytes are taken as they come."""

    closed = False

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


class RangeReader(io.RawIOBase):
    """A seekable read-only file of ``size`` bytes over ``read_range(start, end)``."""

    def __init__(self, size: int, read_range: Callable[[int, int], bytes]) -> None:
        super().__init__()
        self._size = size
        self._read_range = read_range
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: Any) -> int:
        end = min(self._position + len(buffer), self._size)
        if end <= self._position:
            return 0
        data = self._read_range(self._position, end)
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)
