"""JSON Lines through a disclosure view (``tabular.views``): lines cut at LF; a field is a
dotted path (``"a.b"`` is ``obj["a"]["b"]``); output objects keep the nesting of the granted
paths in the view's order, without the paths a row lacks; with ``fields`` None a kept line is
re-emitted as it came, trimmed. A line that is not one UTF-8 JSON object is skipped and
counted as malformed, as is one where a value the view decodes is a number out of range
(``_JsonLines`` says which values a view decodes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from operator import attrgetter
from typing import Any, Final, Protocol

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from tabular.formats import TableFormat
from tabular.parquet import write_parquet
from tabular.predicates import RowFilter
from tabular.reading import line_blocks, strip_bom
from tabular.reading_rules import TARGET_BYTES
from tabular.schema import arrow_type_for
from tabular.typed import typed_values

__all__ = ["jsonl_view"]

_JSON_SPACE: Final = b" \t\r"


class Counts(Protocol):
    """Where a view counts its rows (``tabular.views.ViewOutput``)."""

    malformed_rows: int

    def count(self, scanned: int, returned: int) -> None: ...


def jsonl_view(
    out: Counts,
    chunks: Iterator[bytes],
    fields: list[str] | None,
    keep: RowFilter | None,
    types: dict[str, str],
    output: TableFormat,
    block_bytes: int,
    parquet: dict[str, Any],
) -> Iterator[bytes]:
    names = fields if fields is not None else list(types)  # Parquet's columns
    reader = _JsonLines(fields, keep, names if output == "parquet" else [])
    blocks = (
        kept
        for block in line_blocks(strip_bom(chunks), min(TARGET_BYTES, block_bytes), block_bytes)
        if (kept := reader.kept(out, block)) is not None
    )
    if output == "parquet":
        schema = pa.schema([(n, arrow_type_for(types.get(n, "string"))) for n in names])
        batches = (
            pa.RecordBatch.from_arrays(
                [typed_values(types.get(name, "string"), kept.values(name)) for name in names],
                schema=schema,
            )
            for kept in blocks
        )
        yield from write_parquet(batches, schema, **parquet)
        return
    for kept in blocks:
        yield kept.output()


class _JsonLines:
    """Reads blocks of whole lines into rows with one decoder: a whole block at once when its
    layout lets each line be told apart by bytes alone (``_plain_lines``), else line by line.

    When every field the view reads is a top-level key (``_STRUCT_KEY``), rows are Structs that
    decode those keys' values and only check the syntax of the others (so a number out of
    range there is no error); the bytes are checked to be UTF-8 apart. Otherwise rows are
    dicts, every value decoded."""

    def __init__(self, fields: list[str] | None, keep: RowFilter | None, read: list[str]) -> None:
        """``read``: fields read besides the granted and the filtered ones."""
        self.keep = keep
        self.tree = None if fields is None else _path_tree(fields)
        granted = list(dict.fromkeys(fields or ()))
        filtered = sorted(keep.fields if keep else ())
        named = list(dict.fromkeys([*granted, *read, *filtered]))
        self.struct: type[msgspec.Struct] | None = None
        self.decode: Callable[[bytes], Any] = _DECODE
        self.decode_lines: Callable[[bytes], list[Any]] = msgspec.json.Decoder(dict).decode_lines
        if all(_STRUCT_KEY.fullmatch(name) for name in named):
            self.struct = msgspec.defstruct(
                "Row",
                [(f"f{i}", Any, msgspec.UNSET) for i in range(len(named))],
                rename={f"f{i}": name for i, name in enumerate(named)},
                gc=False,  # decoded JSON holds no cycles; tracking thousands of rows costs
            )
            self.slots = {name: f"f{i}" for i, name in enumerate(named)}
            # Filtered fields that are not granted: blanked before a kept Struct is written.
            self.hidden = [self.slots[name] for name in named[len(granted) :]]
            decoder = msgspec.json.Decoder(self.struct)
            self.decode, self.decode_lines = decoder.decode, decoder.decode_lines
        self.row_type = dict if self.struct is None else self.struct

    def kept(self, out: Counts, block: bytes) -> _KeptJson | None:
        """The block's kept rows (None when it keeps none), counted into ``out``."""
        rows = lines = None
        if (count := _plain_lines(block)) and _utf8(block):
            rows = self._decode_block(block, count)
        if rows is None:
            lines, rows, malformed = self._decode_each(block)
            out.malformed_rows += malformed
        indices = None
        if self.keep is not None and rows:
            mask = self.keep.mask_columns(
                lambda name: _json_column(self.column(name, rows)), len(rows)
            )
            indices = pc.indices_nonzero(mask).to_pylist()
        kept = len(rows) if indices is None else len(indices)
        out.count(len(rows), kept)
        if not kept:
            return None
        return _KeptJson(self, block, lines, rows, indices)

    def column(self, name: str, rows: list[Any]) -> list[Any]:
        """A field's values in the rows; None where a row lacks it."""
        if self.struct is None:
            return list(map(_path_getter(name), rows))
        values = list(map(attrgetter(self.slots[name]), rows))
        if msgspec.UNSET in values:
            values = [None if value is msgspec.UNSET else value for value in values]
        return values

    def _decode_block(self, block: bytes, count: int) -> list[Any] | None:
        """The rows of a block of ``count`` plain lines, or None if one is not a row."""
        try:
            rows = self.decode_lines(block)
        except (msgspec.DecodeError, ValueError, RecursionError):
            return None
        return rows if len(rows) == count else None

    def _decode_each(self, block: bytes) -> tuple[list[bytes], list[Any], int]:
        """The block's rows, and the lines they came from, trimmed; and how many are malformed."""
        ascii_only = block.isascii()
        lines: list[bytes] = []
        rows: list[Any] = []
        malformed = 0
        for line in block.split(b"\n"):
            stripped = line.strip(_JSON_SPACE)
            if not stripped:
                continue
            try:
                row = self.decode(stripped) if ascii_only or _utf8(stripped) else None
            except (msgspec.DecodeError, ValueError, RecursionError):
                row = None
            if type(row) is not self.row_type:
                malformed += 1
                continue
            lines.append(stripped)
            rows.append(row)
        return lines, rows, malformed


class _KeptJson:
    """One block's kept rows, written as JSON Lines or read as a column."""

    def __init__(
        self,
        reader: _JsonLines,
        block: bytes,
        lines: list[bytes] | None,
        rows: list[Any],
        indices: list[int] | None,
    ) -> None:
        self.reader, self.block, self.lines = reader, block, lines
        self.rows = rows if indices is None else [rows[index] for index in indices]
        self.indices = indices

    def output(self) -> bytes:
        if self.reader.tree is None:  # whole lines, trimmed, as they came
            lines = self.lines if self.lines is not None else _plain_split(self.block)
            if self.indices is not None:
                lines = [lines[index] for index in self.indices]
            return b"\n".join(lines) + b"\n"
        if self.reader.struct is not None:
            for row in self.rows:
                for slot in self.reader.hidden:
                    setattr(row, slot, msgspec.UNSET)
            return _ENCODE_LINES(self.rows)
        tree = self.reader.tree
        return _ENCODE_LINES([_pick(row, tree) for row in self.rows])

    def values(self, name: str) -> list[Any]:
        return self.reader.column(name, self.rows)


def _plain_lines(block: bytes) -> int:
    """How many lines the block has if every one is ``{...}`` (nothing to trim, none blank),
    else 0.

    Then every line break is a boundary between two JSON values (a ``}`` ending a line closes
    an object, as a string cannot hold a raw LF, and no value may go on with ``{``), so a block
    that decodes as N values from N lines has exactly one value per line."""
    body = block[:-1] if block[-1:] == b"\n" else block
    if body[:1] != b"{" or body[-1:] != b"}":
        return 0
    breaks = body.count(b"\n")
    return breaks + 1 if body.count(b"}\n{") == breaks else 0


def _utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _plain_split(block: bytes) -> list[bytes]:
    lines = block.split(b"\n")
    if not lines[-1]:
        lines.pop()
    return lines


# Keys a Struct can decode: top-level (no dot) and none of what msgspec refuses to rename to.
_STRUCT_KEY: Final = re.compile(r'[^."\\\x00-\x1f]*')
_DECODE: Final = msgspec.json.Decoder().decode
_ENCODE_LINES: Final = msgspec.json.Encoder().encode_lines


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
