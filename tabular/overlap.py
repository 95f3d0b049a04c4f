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

__all__ = ["KeyIndex", "Matches", "Page", "absent", "key_index", "overlap_count", "shared"]


@dataclass(frozen=True)
class KeyIndex:
    """One side's distinct keys, and the row keys they came from (for ``first_rows``)."""

    keys: pa.Array  # distinct, non-null strings, in no particular order
    source_keys: pa.Array  # the non-null key of each row, in row order
    source_rows: pa.Array  # int64: the row each of source_keys came from

    def __len__(self) -> int:
        return len(self.keys)

    def first_rows(self, keys: pa.Array) -> pa.Array:
        """The first row holding each of ``keys`` (a page: few keys, all of this index).

        The rows are probed against a hash set of ``keys``, so a page costs one pass over
        the rows with a small set, not a hash table of every key.
        """
        if not len(keys):
            return pa.array([], pa.int64())
        hits = pc.indices_nonzero(pc.is_in(self.source_keys, value_set=keys))
        first: dict[str, int] = {}
        found = zip(
            pc.take(self.source_keys, hits).to_pylist(),
            pc.take(self.source_rows, hits).to_pylist(),
            strict=True,
        )
        for key, row in found:  # a page's rows only
            first.setdefault(key, row)
        return pa.array([first[key] for key in keys.to_pylist()], pa.int64())


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
        start = 0 if key is None else int(pc.sum(pc.less_equal(self.keys, key)).as_py() or 0)
        return self.page(start, limit)

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


def _array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks else pa.array([], column.type)
    return column


def _ones(length: int) -> pa.Array:
    return pc.fill_null(pa.nulls(length, pa.bool_()), True)
