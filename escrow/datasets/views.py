"""Disclosure views applied to CSV and JSON Lines plaintext on its way to a beneficiary.

A view is ``{"fields": [name, ...] | None, "where": tree | None}`` (see
``escrow.agreements.terms.validate_view``; predicates in ``view_predicates``).
``view_transform`` returns a ``ViewTransform`` that takes plaintext in chunks of any size and
gives back the transformed bytes, the same however the chunks fall; memory is bounded by the
largest record (``max_record_bytes``), not by the dataset. Parquet needs random access and is
served by ``escrow.datasets.parquet_view``.

Both formats: one leading UTF-8 BOM is stripped; a blank line is no row. ``rows_scanned``
counts the well-formed data rows, ``rows_returned`` those ``where`` kept, ``malformed_rows``
the others, which are skipped (``malformed="skip"``) or abort the transform with
``ViewError`` (``"reject"``) and are never emitted.

CSV (``text/csv``): records as ``csv.reader(io.StringIO(text))`` reads the whole text (the
"excel" dialect; lines split at LF, so CRLF and LF both work). The first record that is not
blank is the header; a data row is well-formed when it has the header's width and the csv
module reads it without error. Output is CSV in the "excel" dialect with CRLF line ends
(RFC 4180): a header of the granted fields in the view's order (all columns when ``fields``
is None), then the kept rows. A granted field missing from the header, a header that repeats
a column the view names, a body that is not UTF-8 or a record over ``max_record_bytes``
aborts.

JSON Lines: the body is split at LF; a line is well-formed when it is one JSON object. A field
is a dotted path (``"a.b"`` is ``obj["a"]["b"]``; keys holding dots cannot be named). Output
objects keep the nesting of the granted paths, in the view's order, without the paths a row
lacks (a parent appears only with a granted path under it; a granted parent includes its
children); with ``fields`` None a kept line is re-emitted as it came, trimmed of whitespace.
A line over ``max_record_bytes`` is malformed.

Errors never carry data: ``ViewError`` messages name neither fields nor values.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import operator
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, Final, Literal

import msgspec

from escrow.datasets.attestation import MAX_RECORD_BYTES
from escrow.datasets.view_predicates import (
    MISSING,
    Test,
    ViewError,
    compile_where,
    field_types,
    parse_view,
    where_fields,
)

__all__ = ["ViewError", "ViewTransform", "table_format", "view_applies", "view_transform"]

Malformed = Literal["skip", "reject"]

_FORMATS: Final = {
    "text/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}
_JSON_SPACE: Final = b" \t\r"
# Beyond this much held without a parse, trust the csv module over quote parity: a stray quote
# in an unquoted field (read literally) would otherwise hold everything after it.
_FORCED_PARSE_BYTES: Final = 1 << 20
_SLICE_BYTES: Final = 256 << 10
_SENTINEL_LINE: Final = "end\n"
_SENTINEL_ROW: Final = ["end"]


def table_format(media_type: str) -> str | None:
    """The table format of a media type (parameters ignored): csv, jsonl, parquet or None."""
    return _FORMATS.get(media_type.split(";", 1)[0].strip().lower())


def view_applies(media_type: str) -> bool:
    return table_format(media_type) is not None


def view_transform(
    media_type: str,
    view: dict[str, Any],
    schema: dict[str, Any] | None,
    *,
    malformed: Malformed = "skip",
    max_record_bytes: int = MAX_RECORD_BYTES,
) -> ViewTransform:
    """A fresh transform applying ``view`` to a CSV or JSON Lines body (one per download)."""
    kind = table_format(media_type)
    if kind == "parquet":
        raise ValueError("Parquet needs random access: use parquet_view.parquet_view")
    if kind is None:
        raise ValueError("only tabular datasets take a view: grant this one whole")
    if malformed not in ("skip", "reject") or max_record_bytes < 1:
        raise ValueError("malformed is 'skip' or 'reject'; max_record_bytes is positive")
    table = _CsvView if kind == "csv" else _JsonLinesView
    return table(view, schema, malformed, max_record_bytes)


class ViewTransform:
    """Applies a view to a body pushed in chunks of any size; the output does not depend on them.

    Fails closed: after a ``ViewError`` every call raises one; nothing malformed is emitted.
    """

    def __init__(self, malformed: Malformed, max_record_bytes: int) -> None:
        self.rows_scanned = self.rows_returned = self.malformed_rows = 0
        self._reject = malformed == "reject"
        self._max = max_record_bytes
        self._head: bytes | None = b""  # the first bytes, until they are known not to be a BOM
        self._held = bytearray()  # from the start of an unfinished record
        self._retry_at = 0
        self._state: Literal["open", "finished", "failed"] = "open"

    def feed(self, chunk: bytes) -> bytes:
        self._check_open()
        if self._head is not None:
            chunk = self._head + chunk
            if len(chunk) < len(codecs.BOM_UTF8) and codecs.BOM_UTF8.startswith(chunk):
                self._head = chunk
                return b""
            self._head = None
            chunk = chunk.removeprefix(codecs.BOM_UTF8)
        # Slices bound the rows parsed at once, however large the chunk.
        slices = (
            chunk[start : start + _SLICE_BYTES] for start in range(0, len(chunk), _SLICE_BYTES)
        )
        return b"".join(self._guarded(self._push, piece) for piece in slices)

    def finish(self) -> bytes:
        self._check_open()
        self._state = "finished"
        tail, self._head = self._head or b"", None
        return self._guarded(self._close, tail)

    def _check_open(self) -> None:
        if self._state != "open":
            raise ViewError(f"the view transform is {self._state}")

    def _guarded(self, step: Callable[[bytes], bytes], data: bytes) -> bytes:
        try:
            return step(data)
        except ViewError:
            self._state = "failed"
            raise

    def _push(self, chunk: bytes) -> bytes:
        """Parses the held whole records; a failed try waits for twice the bytes (linear)."""
        held = self._held
        held += chunk
        over = len(held) > self._max
        if len(held) < self._retry_at and not over:
            return b""
        end = self._cut(held) if len(held) < _FORCED_PARSE_BYTES and not over else 0
        end = end or held.rfind(b"\n") + 1
        output = b""
        if end:
            output, consumed = self._records(held[:end], final=False)
            del held[:consumed]
            self._retry_at = 2 * len(held) if consumed < end else 0
        if len(held) > self._max:
            self._oversize()
        return output

    def _close(self, tail: bytes) -> bytes:
        self._held += tail
        output, _ = self._records(self._held, final=True)
        self._held = bytearray()
        return output

    def _malformed(self, count: int = 1) -> None:
        if count and self._reject:
            raise ViewError("the dataset has a malformed record: the download is aborted")
        self.malformed_rows += count

    def _cut(self, held: bytearray) -> int:
        """Where the held records end (0: unknown); by default after the last line."""
        return held.rfind(b"\n") + 1

    def _records(self, block: bytearray, *, final: bool) -> tuple[bytes, int]:
        """The output for the block's whole records, and how many bytes they take."""
        raise NotImplementedError

    def _oversize(self) -> None:
        raise ViewError(f"a record is larger than {self._max} bytes: the download is aborted")


class _NeedMore(Exception):
    """The csv reader asked for a line past the held ones: its record is unfinished."""


def _need_more() -> Iterator[str]:
    raise _NeedMore
    yield ""  # a generator, so that csv.reader calls it only when it runs out of lines


class _CsvView(ViewTransform):
    def __init__(
        self, view: Any, schema: dict[str, Any] | None, malformed: Malformed, max_bytes: int
    ) -> None:
        super().__init__(malformed, max_bytes)
        self._fields, self._where = parse_view(view)
        self._types = field_types(schema)
        self._width: int | None = None  # the header's, once read
        self._keep: Test | None = None
        self._project: Callable[[list[str]], Any] | None = None
        self._out = io.StringIO()
        self._writer = csv.writer(self._out)
        # Process-wide and only ever raised: no field within the record limit fails.
        if csv.field_size_limit() < max_bytes + 64:
            csv.field_size_limit(max_bytes + 64)

    def _cut(self, held: bytearray) -> int:
        """The end of the last line outside quotes by quote parity (exact for RFC 4180)."""
        odd, end = held.count(b'"') % 2, len(held)
        while True:
            quote = held.rfind(b'"', 0, end)
            if not odd and (newline := held.rfind(b"\n", quote + 1, end)) >= 0:
                return newline + 1
            if quote < 0:
                return 0
            odd, end = odd ^ 1, quote

    def _records(self, block: bytearray, *, final: bool) -> tuple[bytes, int]:
        try:
            text = block.decode()
        except UnicodeDecodeError:
            raise ViewError("the CSV body is not UTF-8: the download is aborted") from None
        lines = io.StringIO(text)
        consumed = len(block)
        if final:
            rows, errors = _read_all(csv.reader(lines))
        else:
            rows, errors = _read_all(csv.reader(itertools.chain(lines, [_SENTINEL_LINE])))
            if rows[-1:] == [_SENTINEL_ROW]:
                rows.pop()
            else:  # the last record is unfinished: find where it starts
                rows, errors, consumed = _read_finished(block, text)
        self._malformed(errors)
        return self._emit(rows), consumed

    def _emit(self, rows: list[list[str]]) -> bytes:
        if self._width is None:
            rows = self._take_header(rows)
        if not rows:
            return self._drain()
        good = [row for row in rows if len(row) == self._width]
        self._malformed(len(rows) - len(good) - rows.count([]))
        self.rows_scanned += len(good)
        if self._keep is not None:
            good = list(filter(self._keep, good))
        self.rows_returned += len(good)
        self._writer.writerows(good if self._project is None else map(self._project, good))
        return self._drain()

    def _take_header(self, rows: list[list[str]]) -> list[list[str]]:
        for index, row in enumerate(rows):
            if row:
                self._start(row)
                return rows[index + 1 :]
        return []

    def _start(self, header: list[str]) -> None:
        counts = Counter(header)
        named = set(self._fields or ()) | where_fields(self._where)
        if any(counts[name] > 1 for name in named):
            raise ViewError("the CSV header repeats a column the view names")
        if any(name not in counts for name in self._fields or ()):
            raise ViewError("the CSV header lacks a granted column")
        position = {name: index for index, name in enumerate(header)}
        self._width = len(header)
        if self._where is not None:
            self._keep = compile_where(
                self._where,
                self._types,
                lambda name: operator.itemgetter(position[name]) if name in position else None,
            )
        if self._fields is not None:
            indices = [position[name] for name in self._fields]
            single = indices[0]
            self._project = (
                operator.itemgetter(*indices) if len(indices) > 1 else lambda row: (row[single],)
            )
        self._writer.writerow(header if self._fields is None else self._fields)

    def _drain(self) -> bytes:
        text = self._out.getvalue()
        self._out.seek(0)
        self._out.truncate()
        return text.encode()

    def _oversize(self) -> None:
        raise ViewError(f"a CSV record is larger than {self._max} bytes: the download is aborted")


def _read_all(reader: Iterator[list[str]]) -> tuple[list[list[str]], int]:
    """All rows, and how many records raised csv.Error (reading resumes at the next line)."""
    rows: list[list[str]] = []
    errors = 0
    while True:
        try:
            rows.extend(reader)  # keeps the rows read before an error
        except csv.Error:
            errors += 1
        else:
            return rows, errors


def _read_finished(block: bytearray, text: str) -> tuple[list[list[str]], int, int]:
    """Rows and errors of the block's finished records, and the bytes those records take."""
    reader = csv.reader(itertools.chain(io.StringIO(text), _need_more()))
    rows: list[list[str]] = []
    errors = done = 0  # done: the lines that finished records took
    while True:
        try:
            row: list[str] | None = next(reader)
        except _NeedMore:
            break
        except csv.Error:
            row = None
        done = reader.line_num
        if row is None:
            errors += 1
        else:
            rows.append(row)
    start = len(block)  # walk back over the unfinished record's lines (the block ends in LF)
    for _ in range(block.count(b"\n") - done):
        start = block.rfind(b"\n", 0, start - 1) + 1
    return rows, errors, start


class _JsonLinesView(ViewTransform):
    def __init__(
        self, view: Any, schema: dict[str, Any] | None, malformed: Malformed, max_bytes: int
    ) -> None:
        super().__init__(malformed, max_bytes)
        fields, where = parse_view(view)
        types = field_types(schema)
        self._keep = None if where is None else compile_where(where, types, _path_getter)
        self._tree = None if fields is None else _path_tree(fields)
        self._decode = msgspec.json.Decoder().decode
        self._encoder = msgspec.json.Encoder()
        self._skipping = False  # inside a line over the limit, until its LF

    def _push(self, chunk: bytes) -> bytes:
        if self._skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                return b""
            chunk, self._skipping = chunk[newline + 1 :], False
        return super()._push(chunk)

    def _oversize(self) -> None:
        self._malformed()  # raises under "reject"
        self._held.clear()
        self._skipping = True

    def _records(self, block: bytearray, *, final: bool) -> tuple[bytes, int]:
        kept: list[Any] = []
        for line in bytes(block).split(b"\n"):
            if not line.strip(_JSON_SPACE):
                continue
            try:
                row = self._decode(line)
            except (msgspec.DecodeError, ValueError, RecursionError):
                row = None
            if type(row) is not dict:
                self._malformed()
                continue
            self.rows_scanned += 1
            if self._keep is None or self._keep(row):
                kept.append(line.strip(_JSON_SPACE) if self._tree is None else row)
        self.rows_returned += len(kept)
        if not kept:
            return b"", len(block)
        if self._tree is None:
            return b"\n".join(kept) + b"\n", len(block)
        tree = self._tree
        return self._encoder.encode_lines([_pick(row, tree) for row in kept]), len(block)


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
        return lambda row: row.get(path, MISSING)

    def get(row: Any) -> Any:
        for part in parts:
            if type(row) is not dict:
                return MISSING
            row = row.get(part, MISSING)
        return row

    return get
