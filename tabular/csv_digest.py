"""The CSV side of content digests (``tabular.digests`` documents the format): records as
the csv module reads them, or as Arrow does a block at a time where it reads them the same."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
from collections.abc import Iterable, Iterator
from typing import Any, Final

import pyarrow as pa
import pyarrow.csv as pacsv

from tabular.buffers import joined
from tabular.digest_rules import (
    DUPLICATE_COLUMNS,
    NOT_UTF8,
    RECORD_TOO_LARGE,
    GiveUp,
    Hasher,
    check_column_names,
)
from tabular.reading import CSV_PARSE, as_written
from tabular.schema import SchemaInference

__all__ = ["CsvTable"]

# CSV blocks Arrow reads at once (``CsvTable._absorb_by_arrow``): its costs are per call.
_ARROW_BLOCK_BYTES: Final = 1 << 20
_SENTINEL_LINE: Final = "end\n"
_LONE_CR: Final = re.compile(rb"\r(?!\n)")  # a third of the cost of counting CR and CRLF
_SENTINEL_ROW: Final = ["end"]


class CsvTable:
    format: Final = "csv"
    block_target: Final = _ARROW_BLOCK_BYTES

    def __init__(self, max_record_bytes: int, inference: SchemaInference) -> None:
        self._max = max_record_bytes
        self._inference = inference
        self._quotes = 0  # quote characters held since the current record's start
        self._columns: list[str] | None = None
        self._convert: pacsv.ConvertOptions | None = None  # the columns as Arrow reads them
        self._hashers: list[Hasher] = []
        self._rows = 0
        self._malformed = 0

    def find_cut(self, piece: bytes, base: int) -> int:
        """End of the piece's last line outside quotes, by quote parity (0 if none).

        Exact for RFC 4180 quoting; ``consume`` detects the rest and gives back the tail.
        """
        self._quotes += piece.count(b'"')
        # Walk back quote by quote: parity is constant between two quotes, so a stray quote
        # (odd parity from there on) costs one step, not one per line.
        odd, end = self._quotes % 2, len(piece)
        while True:
            quote = piece.rfind(b'"', 0, end)
            if not odd:
                newline = piece.rfind(b"\n", quote + 1, end)
                if newline >= 0:
                    return base + newline + 1
            if quote < 0:
                return 0
            odd, end = odd ^ 1, quote

    def restart(self) -> None:
        self._quotes = 0

    def consume(self, block: bytes, *, final: bool) -> int:
        """Absorbs the block's whole records; returns how many bytes they take."""
        # A block within the record limit holds no record over it; a longer one (a chunk took
        # the held bytes past the limit) is read record by record, each length checked.
        within = len(block) <= self._max
        if within and self._columns is not None and self._absorb_by_arrow(block):
            return len(block)
        try:
            text = block.decode()
        except UnicodeDecodeError:
            raise GiveUp(NOT_UTF8) from None
        # Process-wide; only ever raised, so that no field within the record limit fails.
        if csv.field_size_limit() < self._max + 64:
            csv.field_size_limit(self._max + 64)
        if within:
            rows, errors = _read_all(csv.reader(_lines(text, final)))
            if final or rows[-1:] == [_SENTINEL_ROW]:
                self._absorb(rows if final else rows[:-1], errors, nul="\x00" in text)
                return len(block)
        return self._consume_measured(block, text, final=final)

    def _consume_measured(self, block: bytes, text: str, *, final: bool) -> int:
        """Record by record: finds where an unfinished last record starts, checks lengths."""
        ends = [0, *itertools.accumulate(len(line) + 1 for line in block.split(b"\n"))]
        lines = len(ends) - 2 if block.endswith(b"\n") else len(ends) - 1
        reader = csv.reader(_lines(text, final))
        rows: list[list[str]] = []
        errors = start = 0
        while True:
            try:
                row: list[str] | None = next(reader)
            except StopIteration:
                break
            except csv.Error:
                row = None
            if reader.line_num > lines:  # the sentinel's line: an unfinished record, or itself
                break
            if min(ends[reader.line_num], len(block)) - ends[start] > self._max:
                self._absorb(rows, errors, nul=True)  # a duplicate header comes first
                raise GiveUp(RECORD_TOO_LARGE)
            if row is None:
                errors += 1
            else:
                rows.append(row)
            start = reader.line_num
        self._absorb(rows, errors, nul="\x00" in text)
        return len(block) if final else ends[start]

    def _absorb(self, rows: list[list[str]], errors: int, *, nul: bool) -> None:
        self._malformed += errors
        if self._columns is None:
            rows = self._take_header(rows)
        if self._columns is None or not rows:
            return
        width = len(self._columns)
        good = rows if set(map(len, rows)) == {width} else [r for r in rows if len(r) == width]
        if nul:
            good = [row for row in good if "\x00" not in "".join(row)]
        self._malformed += len(rows) - len(good) - rows.count([])
        self._rows += len(good)
        for name, hasher, column in zip(
            self._columns, self._hashers, zip(*good, strict=True), strict=False
        ):
            hasher.update("\x00".join(column).encode())
            hasher.update(b"\x00")
            self._inference.add_strings(name, column)

    def _absorb_by_arrow(self, block: bytes) -> bool:
        """Absorbs a block of whole records read by Arrow when it reads them as the csv module
        does; False (nothing absorbed) when it may not, for the csv module to read.

        Arrow's parser is the csv module's state machine (a property test holds them equal
        on every body) but for a lone CR, which ends a record for Arrow and is an error for
        csv; rows with NUL are malformed here. Arrow refuses a block it reads with a width
        other than the header's or bytes that are not UTF-8. The block must also end between
        records: a quoted field the block leaves open would end with its last LF."""
        columns, convert = self._columns, self._convert
        if (
            columns is None
            or convert is None
            or not block.endswith(b"\n")
            or b"\x00" in block
            or _LONE_CR.search(block) is not None
        ):
            return False
        try:
            table = pacsv.read_csv(
                pa.BufferReader(block),
                read_options=pacsv.ReadOptions(
                    column_names=columns, use_threads=False, block_size=len(block) + 1
                ),
                parse_options=CSV_PARSE,
                convert_options=convert,
            )
        except (pa.ArrowException, ValueError):
            return False
        if table.num_rows and table.column(len(columns) - 1)[-1].as_py().endswith("\n"):
            return False
        self._rows += table.num_rows
        for name, hasher, column in zip(columns, self._hashers, table.columns, strict=True):
            values = column.combine_chunks()
            if len(values):  # each value followed by NUL
                hasher.update(joined(values, "\x00"))
                hasher.update(b"\x00")
            self._inference.add_strings(name, values)
        return True

    def _take_header(self, rows: list[list[str]]) -> list[list[str]]:
        for index, row in enumerate(rows):
            if row:
                check_column_names(row)
                if len(set(row)) != len(row):
                    raise GiveUp(DUPLICATE_COLUMNS)
                self._columns = row
                self._convert = as_written(row)
                self._hashers = [hashlib.sha256() for _ in row]
                return rows[index + 1 :]
        return []

    def result(self) -> dict[str, Any]:
        columns = self._columns or []
        return {
            "format": self.format,
            "rows": self._rows,
            "columns": columns,
            "column_sha256": {
                name: hasher.hexdigest()
                for name, hasher in zip(columns, self._hashers, strict=True)
            },
            "malformed_rows": self._malformed,
            "encoding": "utf-8",
        }


def _lines(text: str, final: bool) -> Iterable[str]:
    """The text's lines (split at LF only, as csv expects), then a sentinel unless final.

    A sentinel row comes back intact only if the text ends between records: inside a quoted
    field the sentinel line becomes part of the field.
    """
    lines = io.StringIO(text)
    return lines if final else itertools.chain(lines, (_SENTINEL_LINE,))


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
