"""Overlap joins on normalized keys: hash joins over Arrow arrays, no per-row Python.

A ``KeyIndex`` is one side's distinct keys, each with the first row (in the source table's
order) that holds it; nulls (keys that normalize to nothing) are never in it. Counting the
keys two indexes share is one hash-set probe (``pyarrow.compute.is_in``) of the smaller
side against the larger; ``shared`` and ``absent`` give the keys themselves, sorted, with
the rows to show for each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "KeyIndex",
    "Matches",
    "Page",
    "absent",
    "key_index",
    "overlap_count",
    "shared",
    "take_rows",
]


@dataclass(frozen=True)
class KeyIndex:
    """One side's distinct keys, and the row keys they came from (for ``first_rows``)."""

    keys: pa.Array  # distinct, non-null strings, in no particular order
    source_keys: pa.Array  # the non-null key of each row, in row order
    source_rows: pa.Array  # int64: the row each of source_keys came from

    def __len__(self) -> int:
        return len(self.keys)

    def first_rows(self, keys: pa.Array) -> pa.Array:
        """The first row holding each of ``keys`` (all of them keys of this index).

        Only the rows holding one of ``keys`` are grouped (a hash-set probe first), so a
        page of keys costs one pass over the rows with a small set.
        """
        if not len(keys):
            return pa.array([], pa.int64())
        hits = pc.is_in(self.source_keys, value_set=keys)
        held = pa.table(
            {"key": pc.filter(self.source_keys, hits), "row": pc.filter(self.source_rows, hits)}
        )
        first = held.group_by("key", use_threads=False).aggregate([("row", "min")])
        at = pc.index_in(keys, value_set=first["key"])
        return pc.take(first["row_min"], at).combine_chunks().cast(pa.int64())


@dataclass(frozen=True)
class Page:
    """Keys in ascending order, with each side's first row for each key."""

    keys: pa.Array
    rows: pa.Array  # int64 rows of the first index
    other_rows: pa.Array  # int64 rows of the second index (empty when there is none)

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class Matches:
    """Keys in ascending order taken from ``index``, also present in ``other`` if given."""

    keys: pa.Array
    index: KeyIndex
    other: KeyIndex | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def after(self, key: str | None, limit: int) -> Page:
        """At most ``limit`` matches whose key sorts after ``key`` (None: from the first)."""
        return self.page(self.start_after(key), limit)

    def start_after(self, key: str | None) -> int:
        """The position of the first match whose key sorts after ``key`` (None: 0)."""
        return 0 if key is None else int(pc.sum(pc.less_equal(self.keys, key)).as_py() or 0)

    def page(self, start: int, limit: int) -> Page:
        keys = self.keys.slice(start, limit)
        others = self.other.first_rows(keys) if self.other is not None else pa.array([], pa.int64())
        return Page(keys, self.index.first_rows(keys), others)


def key_index(keys: pa.Array | pa.ChunkedArray, rows: pa.Array | None = None) -> KeyIndex:
    """The distinct non-null ``keys``; ``rows`` (default: positions) name each key's row."""
    keys = _array(keys) if len(keys) else pa.array([], pa.string())
    if rows is None:
        rows = pc.indices_nonzero(_ones(len(keys))).cast(pa.int64())
    valid = pc.is_valid(keys)
    source_keys, source_rows = pc.filter(keys, valid), pc.filter(rows, valid)
    return KeyIndex(pc.unique(source_keys), source_keys, source_rows)


def overlap_count(mine: KeyIndex, theirs: KeyIndex) -> int:
    """Distinct keys present in both: the smaller side probes a hash set of the larger."""
    small, large = (mine, theirs) if len(mine) <= len(theirs) else (theirs, mine)
    if not len(small):
        return 0
    return int(pc.sum(pc.is_in(small.keys, value_set=large.keys)).as_py() or 0)


def shared(mine: KeyIndex, theirs: KeyIndex) -> Matches:
    """The keys present in both, sorted, with ``mine``'s and ``theirs``' first rows."""
    keys = pc.filter(mine.keys, pc.is_in(mine.keys, value_set=theirs.keys))
    return Matches(pc.take(keys, pc.sort_indices(keys)), mine, theirs)


def absent(theirs: KeyIndex, others: Sequence[KeyIndex]) -> Matches:
    """``theirs``' keys found in none of ``others``, sorted, with ``theirs``' first rows."""
    keep = _ones(len(theirs))
    for index in others:
        if len(index):
            keep = pc.and_(keep, pc.invert(pc.is_in(theirs.keys, value_set=index.keys)))
    keys = pc.filter(theirs.keys, keep)
    return Matches(pc.take(keys, pc.sort_indices(keys)), theirs)


def take_rows(batches: Iterable[pa.RecordBatch], rows: pa.Array) -> pa.Table | None:
    """The ``rows`` (distinct row numbers, in any order) of the table the ``batches`` make, in
    the order of ``rows``, picked in one pass: only those rows are ever held. None when
    there are no batches."""
    order = pc.sort_indices(rows)
    wanted = pc.take(rows, order).to_numpy(zero_copy_only=False)
    parts, offset, schema = [], 0, None
    for batch in batches:
        schema = batch.schema
        low, high = np.searchsorted(wanted, [offset, offset + batch.num_rows])
        if high > low:
            parts.append(batch.take(pa.array(wanted[low:high] - offset)))
        offset += batch.num_rows
    if schema is None:
        return None
    if len(wanted) and (wanted[0] < 0 or wanted[-1] >= offset):
        raise IndexError("a row number is outside the table")
    picked = pa.Table.from_batches(parts, schema=schema)
    return picked.take(pc.sort_indices(order))  # back in the order of ``rows``


def _array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    return column


def _ones(length: int) -> pa.Array:
    return pc.fill_null(pa.nulls(length, pa.bool_()), True)
