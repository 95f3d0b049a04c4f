"""Overlap joins on normalized keys: hash joins over Arrow arrays, no per-row Python.

A ``KeyIndex`` is one side's distinct keys, each with the first row (in the source table's
order) that holds it; nulls (keys that normalize to nothing) are never in it. Counting the
keys two indexes share is one hash-set probe (``pyarrow.compute.is_in``) of the smaller
side against the larger; ``shared`` and ``absent`` give the keys themselves, sorted, with
the rows to show for each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["KeyIndex", "Matches", "absent", "key_index", "overlap_count", "shared"]


@dataclass(frozen=True)
class KeyIndex:
    keys: pa.Array  # distinct, non-null strings, in no particular order
    first_rows: pa.Array  # int64: the first source row holding each key

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class Matches:
    """Keys in ascending order, with each side's first row for each key."""

    keys: pa.Array
    rows: pa.Array  # int64 rows of the index the keys were taken from
    other_rows: pa.Array  # int64 rows of the other index (empty for ``absent``)

    def __len__(self) -> int:
        return len(self.keys)

    def after(self, key: str | None, limit: int) -> Matches:
        """At most ``limit`` matches whose key sorts after ``key`` (None: from the first)."""
        start = 0 if key is None else int(pc.sum(pc.less_equal(self.keys, key)).as_py() or 0)
        return self.slice(start, limit)

    def slice(self, start: int, limit: int) -> Matches:
        others = self.other_rows.slice(start, limit) if len(self.other_rows) else self.other_rows
        return Matches(self.keys.slice(start, limit), self.rows.slice(start, limit), others)


def key_index(keys: pa.Array | pa.ChunkedArray, rows: pa.Array | None = None) -> KeyIndex:
    """The distinct non-null ``keys`` with the least of ``rows`` (default: positions) for each."""
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks() if keys.num_chunks else pa.array([], pa.string())
    if rows is None:
        rows = pc.indices_nonzero(_ones(len(keys))).cast(pa.int64())
    table = pa.table({"key": keys, "row": rows}).filter(pc.is_valid(keys))
    grouped = table.group_by("key", use_threads=False).aggregate([("row", "min")])
    return KeyIndex(_array(grouped["key"]), _array(grouped["row_min"]).cast(pa.int64()))


def overlap_count(mine: KeyIndex, theirs: KeyIndex) -> int:
    """Distinct keys present in both."""
    small, large = (mine, theirs) if len(mine) <= len(theirs) else (theirs, mine)
    if not len(small):
        return 0
    return int(pc.sum(pc.is_in(small.keys, value_set=large.keys)).as_py() or 0)


def shared(mine: KeyIndex, theirs: KeyIndex) -> Matches:
    """The keys present in both, sorted, with ``mine``'s and ``theirs``' first rows."""
    mask = pc.is_in(mine.keys, value_set=theirs.keys)
    keys = pc.filter(mine.keys, mask)
    order = pc.sort_indices(keys)
    keys = pc.take(keys, order)
    rows = pc.take(pc.filter(mine.first_rows, mask), order)
    other = pc.take(theirs.first_rows, pc.index_in(keys, value_set=theirs.keys))
    return Matches(keys, rows, other)


def absent(theirs: KeyIndex, others: Sequence[KeyIndex]) -> Matches:
    """``theirs``' keys found in none of ``others``, sorted, with ``theirs``' first rows."""
    keep = _ones(len(theirs))
    for index in others:
        if len(index):
            keep = pc.and_(keep, pc.invert(pc.is_in(theirs.keys, value_set=index.keys)))
    keys = pc.filter(theirs.keys, keep)
    order = pc.sort_indices(keys)
    rows = pc.take(pc.filter(theirs.first_rows, keep), order)
    return Matches(pc.take(keys, order), rows, pa.array([], pa.int64()))


def _array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    return column


def _ones(length: int) -> pa.Array:
    return pc.fill_null(pa.nulls(length, pa.bool_()), True)
