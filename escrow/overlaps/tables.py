"""A dataset version's plaintext as one Arrow table, and a population's rows in it.

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

__all__ = ["TableError", "read_table", "rows_where", "table_format"]


class TableError(Exception):
    """The plaintext is not a table of the dataset's schema. Messages carry no data."""


def read_table(media_type: str, chunks: Iterator[bytes], schema: dict[str, Any]) -> pa.Table:
    """The whole version as one table of the schema's columns."""
    fmt = table_format(media_type)
    names = [field["name"] for field in schema["fields"]]
    try:
        if fmt in ("csv", "jsonl"):
            batches = list(read_batches(chunks, fmt))
        elif fmt == "parquet":  # needs random access: the bytes, then row group by row group
            data = bytearray()
            for chunk in chunks:
                data += chunk
            batches = list(parquet_batches(pa.BufferReader(pa.py_buffer(data))))
        else:
            raise TableError("the dataset is not tabular")
    except TabularError as exc:
        raise TableError(str(exc)) from None
    if not batches:
        return pa.table({name: pa.array([], pa.string()) for name in names})
    table = pa.Table.from_batches(batches)
    missing = [name for name in names if name not in table.column_names]
    if missing:
        raise TableError("the version lacks columns its schema names")
    return table.select(names).combine_chunks()


def rows_where(table: pa.Table, where: dict[str, Any] | None, types: dict[str, str]) -> pa.Array:
    """A boolean mask of the rows ``where`` keeps (None: every row); never null."""
    if where is None:
        return all_true(len(table))
    mask: pa.Array = compile_filter(where, types).mask(table)
    return mask


def all_true(length: int) -> pa.Array:
    return pc.fill_null(pa.nulls(length, pa.bool_()), True)
