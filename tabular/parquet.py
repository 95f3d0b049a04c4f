"""Parquet output, written as it goes, and a seekable file over ranged reads.

``write_parquet(batches, schema)`` yields the bytes of one Parquet file holding the batches,
drained after every row group (``group_rows`` rows or 32 MiB of Arrow data), so memory holds
a row group, not the table. The output keeps no metadata of the input (pandas metadata names
every column) and no dictionaries (a dictionary may hold values of rows filtered out).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["RangeReader", "bare_schema", "write_parquet"]

_GROUP_BYTES: Final = 32 << 20


def bare_schema(schema: pa.Schema) -> pa.Schema:
    """The schema without metadata and without dictionaries, however deeply nested."""
    return pa.schema([_bare_field(field) for field in schema])


def write_parquet(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    *,
    group_rows: int = 1 << 17,
    compression: str = "snappy",
) -> Iterator[bytes]:
    """The bytes of a Parquet file of ``batches`` (cast to the bare ``schema``), in pieces."""
    out_schema = bare_schema(schema)
    sink = _Drain()
    writer = pq.ParquetWriter(sink, out_schema, compression=compression)
    pending: list[pa.RecordBatch] = []
    rows = size = 0
    try:
        for batch in batches:
            if not batch.num_rows:
                continue
            pending.append(batch.cast(out_schema))
            rows, size = rows + batch.num_rows, size + batch.nbytes
            if rows >= group_rows or size >= _GROUP_BYTES:
                writer.write_table(pa.Table.from_batches(pending, out_schema))
                pending, rows, size = [], 0, 0
                yield sink.take()
        if pending:
            writer.write_table(pa.Table.from_batches(pending, out_schema))
    finally:
        writer.close()
    yield sink.take()


def _bare_field(field: pa.Field) -> pa.Field:
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
