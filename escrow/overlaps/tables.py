"""A dataset version's plaintext as Arrow batches, and a population's rows in them.

Reading and predicates are the shared tabular engine's (``tabular``): CSV and JSON Lines are
read from the decrypted stream batch by batch (CSV columns are strings, as written), Parquet
from its bytes; a population's ``where`` means exactly what it means in a disclosure view.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tabular import (
    TabularError,
    compile_filter,
    parquet_batches,
    read_batches,
    table_format,
)

__all__ = ["TableError", "rows_where", "table_batches", "table_format"]


class TableError(Exception):
    """The plaintext is not a table of the dataset's schema. Messages carry no data."""


def table_batches(
    media_type: str,
    chunks: Iterator[bytes],
    schema: dict[str, Any],
    columns: tuple[str, ...] | None = None,
) -> Iterator[pa.RecordBatch]:
    """The version's batches, in order, with the schema's columns (or ``columns`` only: a
    projection is read from the stream, the other columns are never decoded)."""
    fmt = table_format(media_type)
    names = _names(schema, columns)
    projection = names if columns is not None else None
    try:
        if fmt in ("csv", "jsonl"):
            batches = read_batches(chunks, fmt, columns=projection)
        elif fmt == "parquet":  # needs random access: the bytes, then row group by row group
            data = bytearray()
            for chunk in chunks:
                data += chunk
            batches = parquet_batches(pa.BufferReader(pa.py_buffer(data)), columns=projection)
        else:
            raise TableError("the dataset is not tabular")
        for batch in batches:
            if any(name not in batch.schema.names for name in names):
                raise TableError("the version lacks columns its schema names")
            yield batch.select(names)
    except TabularError as exc:
        raise TableError(str(exc)) from None


def _names(schema: dict[str, Any], columns: tuple[str, ...] | None) -> list[str]:
    names = [field["name"] for field in schema["fields"]]
    return names if columns is None else [name for name in names if name in columns]


def rows_where(table: pa.Table, where: dict[str, Any] | None, types: dict[str, str]) -> pa.Array:
    """A boolean mask of the rows ``where`` keeps (None: every row); never null."""
    if where is None:
        return all_true(len(table))
    mask: pa.Array = compile_filter(where, types).mask(table)
    return mask


def all_true(length: int) -> pa.Array:
    return pc.fill_null(pa.nulls(length, pa.bool_()), True)
