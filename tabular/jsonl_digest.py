"""The JSON Lines side of content digests (``tabular.digests`` documents the format)."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from typing import Any, Final

import msgspec

from tabular.digest_rules import (
    MAX_JSON_DEPTH,
    NOT_UTF8,
    RECORD_TOO_LARGE,
    SLICE_BYTES,
    GiveUp,
    Hasher,
    check_column_names,
)
from tabular.schema import SchemaInference

__all__ = ["JsonLinesTable"]

_JSON_SPACE: Final = b" \t\r"
# Every byte except the ones that open a JSON container and LF, for bytes.translate.
_NOT_OPENERS: Final = bytes(byte for byte in range(256) if byte not in b"[{\n")


class _JsonColumn:
    """A running SHA-256 over the column's entries array (see the module docstring)."""

    def __init__(self) -> None:
        self._hasher: Hasher = hashlib.sha256(b"[")
        self._written = False
        self._next_row = 0  # the row after the last one that had the key

    def add(self, row: int, entries: bytes, count: int) -> None:
        """Adds ``count`` rows from ``row`` on that have the key: ``entries`` is their text."""
        if row > self._next_row:
            self._write(b"%d" % (row - self._next_row))
        self._write(entries)
        self._next_row = row + count

    def hexdigest(self, rows: int) -> str:
        hasher = self._hasher.copy()
        if rows > self._next_row:
            hasher.update(b"%s%d" % (b"," if self._written else b"", rows - self._next_row))
        hasher.update(b"]")
        return hasher.hexdigest()

    def _write(self, element: bytes) -> None:
        if self._written:
            self._hasher.update(b",")
        self._hasher.update(element)
        self._written = True


# Types msgspec writes byte for byte as json.dumps does (it writes floats differently, and
# containers may hold floats).
_PLAIN_TYPES: Final = frozenset({str, int, bool, type(None)})
_NUMBER_TYPES: Final = frozenset({int, float})
_CONTAINER_TYPES: Final = frozenset({dict, list})
_JSON: Final = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
_MSGSPEC: Final = msgspec.json.Encoder()


class JsonLinesTable:
    format: Final = "jsonl"
    block_target: Final = SLICE_BYTES

    def __init__(self, max_record_bytes: int, inference: SchemaInference) -> None:
        self._max = max_record_bytes
        self._inference = inference
        self._decoder = msgspec.json.Decoder()
        self._columns: dict[str, _JsonColumn] = {}
        self._rows = 0
        self._malformed = 0

    def find_cut(self, piece: bytes, base: int) -> int:
        newline = piece.rfind(b"\n")
        return base + newline + 1 if newline >= 0 else 0

    def restart(self) -> None:
        pass

    def consume(self, block: bytes, *, final: bool) -> int:
        if not block.isascii():
            try:
                block.decode()
            except UnicodeDecodeError:
                raise GiveUp(NOT_UTF8) from None
        lines = block.split(b"\n")
        terminated = len(lines) - 1
        if not lines[-1]:
            lines.pop()
        too_long = self._first_too_long(lines, terminated) if len(block) > self._max else None
        values, malformed = self._decode(block, lines[:too_long])
        rows = [value for value in values if type(value) is dict]
        self._malformed += malformed + len(values) - len(rows)
        if rows:
            self._absorb(rows)  # first: a column error before the long line wins
        if too_long is not None:
            raise GiveUp(RECORD_TOO_LARGE)
        return len(block)

    def _first_too_long(self, lines: list[bytes], terminated: int) -> int | None:
        """Index of the first line over the limit (``terminated`` lines end with LF)."""
        sizes = (len(line) + (index < terminated) for index, line in enumerate(lines))
        return next((index for index, size in enumerate(sizes) if size > self._max), None)

    def _decode(self, block: bytes, lines: list[bytes]) -> tuple[list[Any], int]:
        # A line with at most MAX_JSON_DEPTH container openers cannot nest deeper.
        openers = block.translate(None, _NOT_OPENERS).split(b"\n")
        if max(map(len, openers)) <= MAX_JSON_DEPTH:
            try:
                return list(map(self._decoder.decode, lines)), 0
            except msgspec.DecodeError:
                pass  # a blank or malformed line: sort them one by one
        values: list[Any] = []
        malformed = 0
        for line in lines:
            if not line.strip(_JSON_SPACE):
                continue
            try:
                value = self._decoder.decode(line)
            except (msgspec.DecodeError, RecursionError):
                malformed += 1
                continue
            deep = line.count(b"[") + line.count(b"{") > MAX_JSON_DEPTH
            if deep and _deeper_than(value, MAX_JSON_DEPTH):
                malformed += 1
                continue
            values.append(value)
        return values, malformed

    def _absorb(self, rows: list[dict[str, Any]]) -> None:
        present: set[str] = set().union(*rows)
        if not present <= self._columns.keys():
            self._add_columns(rows)
        for key in present:
            self._inference.add_values(key, [row.get(key) for row in rows])
        if set(map(len, rows)) == {len(present)}:  # every row has every key: dense
            for key in present:
                values = [row[key] for row in rows]
                self._columns[key].add(self._rows, _entries(values), len(rows))
        else:
            self._absorb_sparse(rows, present)
        self._rows += len(rows)

    def _absorb_sparse(self, rows: list[dict[str, Any]], present: set[str]) -> None:
        """Keys missing from some rows: work in proportion to the keys, not rows x columns."""
        where: dict[str, list[int]] = {key: [] for key in present}
        for index, row in enumerate(rows):
            for key in row:
                where[key].append(index)
        for key, indices in where.items():
            column = self._columns[key]
            for start, stop in _runs(indices):
                values = [row[key] for row in rows[start:stop]]
                column.add(self._rows + start, _entries(values), stop - start)

    def _add_columns(self, rows: list[dict[str, Any]]) -> None:
        """Adds the rows' new keys in order of first appearance."""
        columns = self._columns
        for row in rows:
            if not row.keys() <= columns.keys():
                fresh = [key for key in row if key not in columns]
                check_column_names(fresh, len(columns))
                for key in fresh:
                    columns[key] = _JsonColumn()

    def result(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "rows": self._rows,
            "columns": list(self._columns),
            "column_sha256": {
                key: column.hexdigest(self._rows) for key, column in self._columns.items()
            },
            "malformed_rows": self._malformed,
            "encoding": "utf-8",
        }


def _entries(values: list[Any]) -> bytes:
    """``[value],[value],...``: the entries of rows that have the key, as json.dumps writes."""
    types = set(map(type, values))
    if types <= _PLAIN_TYPES:
        return b"[" + b"],[".join(map(_MSGSPEC.encode, values)) + b"]"
    if types <= _NUMBER_TYPES:  # json.dumps writes ints and floats with their repr
        return ("[" + "],[".join(map(repr, values)) + "]").encode()
    return _JSON.encode([[value] for value in values])[1:-1].encode()


def _runs(indices: list[int]) -> Iterator[tuple[int, int]]:
    """The maximal runs of consecutive numbers in sorted ``indices``, as (start, stop)."""
    start = previous = indices[0]
    for index in itertools.islice(indices, 1, None):
        if index != previous + 1:
            yield start, previous + 1
            start = index
        previous = index
    yield start, previous + 1


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` deep in ``value``, a level at a time."""
    level = [value] if type(value) in _CONTAINER_TYPES else []
    for _ in range(limit):
        if not level:
            return False
        level = [
            child
            for item in level
            for child in (item.values() if type(item) is dict else item)
            if type(child) in _CONTAINER_TYPES
        ]
    return bool(level)
