"""Overlaps computed inside escrow: decrypt a version, read it as a table, index its keys.

Results live in this process's memory only, never in the database or the blob store: the
decoded tables by version id and each population's key index by (population, revision,
version). A new deposit, a changed population or a shredded dataset changes or removes the
key, so a stale result is never served (sharing levels are applied at every read).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from crypto import KeyManager, WrappedDataKey
from escrow.errors import InvalidStateError
from escrow.overlaps.tables import TableError, rows_where, table_batches
from storage.blobs import BlobStore
from storage.models import Dataset, DatasetVersion, Population
from tabular import where_fields
from tabular.normalize import normalize
from tabular.overlap import KeyIndex, Matches, key_index, overlap_count, shared, take_rows

T = TypeVar("T")


@dataclass(frozen=True)
class PopulationKeys:
    index: KeyIndex
    size: int  # rows the population's predicate keeps
    cache_key: tuple[str, ...] = ()  # what it was computed from (empty: nothing, never cached)


class OverlapCache:
    """Bounded, least recently used, thread-safe; keyed so that stale entries never match."""

    def __init__(self, max_tables: int = 4, max_indexes: int = 64) -> None:
        self._limits = {
            "table": max_tables,
            "index": max_indexes,
            "cell": max_indexes * 4,
            "rows": max_tables * 2,
        }
        self._entries: dict[str, OrderedDict[tuple[str, ...], Any]] = {
            kind: OrderedDict() for kind in self._limits
        }
        self._lock = threading.Lock()

    def get(self, kind: str, key: tuple[str, ...], build: Callable[[], T]) -> T:
        """``key`` holds the ids of the datasets the value was derived from (``drop_dataset``)."""
        found: T | None = self.peek(kind, key)
        if found is not None:
            return found
        value = build()  # outside the lock: another key's build need not wait for this one
        self.put(kind, key, value)
        return value

    def peek(self, kind: str, key: tuple[str, ...]) -> Any:
        """The cached value (most recently used from now on), or None."""
        entries = self._entries[kind]
        with self._lock:
            if key not in entries:
                return None
            entries.move_to_end(key)
            return entries[key]

    def put(self, kind: str, key: tuple[str, ...], value: Any) -> None:
        entries = self._entries[kind]
        with self._lock:
            entries[key] = value
            while len(entries) > self._limits[kind]:
                entries.popitem(last=False)

    def drop_dataset(self, dataset_id: str) -> None:
        """Forget everything derived from a dataset (it was shredded)."""
        with self._lock:
            for entries in self._entries.values():
                for key in [k for k in entries if dataset_id in k]:
                    del entries[key]


def forget_shredded(cache: OverlapCache) -> Callable[..., None]:
    """An audit listener: once a dataset is shredded, nothing derived from it stays."""

    def listener(_session: Any, _ctx: Any, record: Any, _seq: int | None) -> None:
        if record.action == "dataset.shred" and record.outcome == "success":
            cache.drop_dataset(str(record.resource_id))

    return listener


class OverlapComputer:
    """Reads populations' keys and records from their versions' plaintext, and keeps what it
    derived in ``cache`` (this process's memory only)."""

    def __init__(self, data_keys: KeyManager, blobs: BlobStore, cache: OverlapCache) -> None:
        self.data_keys = data_keys
        self.blobs = blobs
        self.cache = cache

    def matched(
        self,
        dataset: Dataset,
        version: DatasetVersion,
        names: tuple[str, ...],
        rows: Callable[[], pa.Array],
        key: tuple[str, ...],
    ) -> pa.Table:
        """The ``names`` columns of the ``rows()`` of a version, in that order: the records of
        all of a cell's matches, picked in one pass and kept (only these rows) for its pages."""
        return self.cache.get("rows", key, lambda: self._pick(dataset, version, names, rows()))

    def keys(
        self, population: Population, dataset: Dataset, version: DatasetVersion
    ) -> PopulationKeys:
        return self.keys_of(dataset, version, [population])[0]

    def keys_of(
        self, dataset: Dataset, version: DatasetVersion, populations: list[Population]
    ) -> list[PopulationKeys]:
        """The key indexes of populations of one dataset, from one read of the columns they
        need (match and predicate fields only); the columns are dropped once indexed, so
        only the indexes stay in memory."""
        wanted = {p.id: (dataset.id, p.id, str(p.revision), version.id) for p in populations}
        found = {p.id: self.cache.peek("index", wanted[p.id]) for p in populations}
        missing = [p for p in populations if found[p.id] is None]
        if missing:
            for population, keys in zip(
                missing, self._index(dataset, version, missing), strict=True
            ):
                self.cache.put("index", keys.cache_key, keys)
                found[population.id] = keys
        return [found[p.id] for p in populations]

    def _index(
        self, dataset: Dataset, version: DatasetVersion, populations: list[Population]
    ) -> list[PopulationKeys]:
        """Streams the columns the populations read, batch by batch: a batch's match values
        are normalized (once per field and normalizer) and each population keeps the keys and
        row numbers of the rows its predicate keeps; nothing else of the version is held."""
        columns: set[str] = set()
        for population in populations:
            for name in (population.match_field, *where_fields(population.where)):
                columns |= {name, name.partition(".")[0]}  # a dotted field reads its struct
        types = {f["name"]: f["type"] for f in (dataset.schema or {}).get("fields", [])}
        keys: list[list[pa.Array]] = [[] for _ in populations]
        rows: list[list[pa.Array]] = [[] for _ in populations]
        offset = 0
        for batch in self._batches(dataset, version, tuple(columns)):
            normalized: dict[tuple[str, str], pa.Array] = {}
            for i, population in enumerate(populations):
                match = (population.match_field, population.normalizer)
                if match not in normalized:
                    normalized[match] = normalize(batch.column(match[0]), match[1])
                kept = pc.indices_nonzero(rows_where(batch, population.where, types))
                keys[i].append(pc.take(normalized[match], kept))
                rows[i].append(pc.add(kept.cast(pa.int64()), offset))
            offset += batch.num_rows
        return [
            PopulationKeys(
                key_index(_concat(keys[i], pa.string()), _concat(rows[i], pa.int64())),
                sum(map(len, rows[i])),
                (dataset.id, population.id, str(population.revision), version.id),
            )
            for i, population in enumerate(populations)
        ]

    def count(self, mine: PopulationKeys, theirs: PopulationKeys) -> int:
        if not mine.cache_key or not theirs.cache_key:
            return 0
        key = ("count", *mine.cache_key, *theirs.cache_key)
        return self.cache.get("cell", key, lambda: overlap_count(mine.index, theirs.index))

    def shared(self, mine: PopulationKeys, theirs: PopulationKeys) -> Matches:
        if not mine.cache_key or not theirs.cache_key:
            return shared(mine.index, theirs.index)
        key = ("shared", *mine.cache_key, *theirs.cache_key)
        return self.cache.get("cell", key, lambda: shared(mine.index, theirs.index))

    def _pick(
        self, dataset: Dataset, version: DatasetVersion, names: tuple[str, ...], rows: pa.Array
    ) -> pa.Table:
        picked = take_rows(self._batches(dataset, version, names), rows)
        if picked is None:
            return pa.table({name: pa.array([], pa.string()) for name in names})
        return picked.select(list(names))

    def _batches(
        self, dataset: Dataset, version: DatasetVersion, columns: tuple[str, ...]
    ) -> Iterator[pa.RecordBatch]:
        """The version's batches with ``columns`` only (the others are never decoded)."""
        if dataset.schema is None:
            raise InvalidStateError("the dataset has no schema")
        try:
            yield from table_batches(
                version.media_type, self._plaintext(version), dataset.schema, columns
            )
        except TableError as exc:
            raise InvalidStateError(f"version {version.number}: {exc}") from None

    def _plaintext(self, version: DatasetVersion) -> Iterator[bytes]:
        """The version's plaintext in segments, each authenticated before it is given out."""
        wrapped = version.wrapped_dek
        if wrapped is None:
            raise InvalidStateError("this version was shredded")
        aad = version.id.encode()
        aead = self.data_keys.open_data_key(
            WrappedDataKey.parse(wrapped), aad, segment_size=version.segment_size
        )
        decryptor = aead.new_decryptor(aad)
        with self.blobs.read(version.blob_key, 0, None) as ciphertext:
            for chunk in ciphertext:
                plaintext = decryptor.update(chunk)
                if plaintext:
                    yield plaintext
        tail = decryptor.finalize()
        if tail:
            yield tail


def _concat(parts: list[pa.Array], empty: pa.DataType) -> pa.Array:
    if not parts:
        return pa.array([], empty)
    return pa.concat_arrays([part.cast(parts[0].type) for part in parts])
