"""A CSV body cut into whole RFC 4180 records by quote parity, without parsing it.

``csv_header`` and ``read_csv_header`` find the header record, ``after_header`` and
``record_blocks`` give the body after it in blocks of whole records, and ``RecordSpan``
follows the same cuts chunk by chunk as a deposit streams in.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator

from tabular.errors import BadTableError
from tabular.reading_rules import BLOCK_BYTES, DETAILS, NOT_UTF8, RECORD_TOO_LARGE, UNREADABLE

__all__ = [
    "RecordSpan",
    "after_header",
    "csv_header",
    "read_csv_header",
    "record_blocks",
]


def csv_header(head: bytes, *, final: bool = False) -> list[str] | None:
    """The header of a CSV body beginning with ``head`` (None: not all of it is there yet,
    or, when ``final``, the body has none)."""
    head = head.removeprefix(codecs.BOM_UTF8)
    if not final:
        end = _header_end(bytearray(head))
        if end is None:
            return None
        head = head[:end]  # the header's whole record only
    try:
        text = head.decode()
    except UnicodeDecodeError:
        raise BadTableError(NOT_UTF8, "the CSV body is not UTF-8") from None
    try:
        return next((row for row in csv.reader(io.StringIO(text)) if row), None)
    except csv.Error:
        if final:
            raise BadTableError(UNREADABLE, "the CSV header is not readable") from None
        return None  # a quoted name goes on past the last line


def _peek_header(chunks: Iterator[bytes], limit: int) -> tuple[bytes, Iterator[bytes]]:
    """The first bytes, up to the end of the header, and the chunks with them put back."""
    held = bytearray()
    for chunk in chunks:
        held += chunk
        if csv_header(bytes(held)) is not None:
            break
        if len(held) > limit:
            raise BadTableError(RECORD_TOO_LARGE, "the CSV header is longer than a block")
    first = bytes(held)
    return first, _chain(first, chunks)


def read_csv_header(chunks: Iterator[bytes], limit: int) -> tuple[list[str], Iterator[bytes]]:
    """The CSV header (empty for an empty body) and the chunks with what was read put back."""
    first, chunks = _peek_header(chunks, limit)
    header = csv_header(first) or csv_header(first, final=True) or []
    return header, chunks


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def after_header(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The body after its header record (the chunks start at the body's first byte)."""
    held = bytearray()
    for chunk in chunks:
        held += chunk
        end = _header_end(held)
        if end is not None:
            yield bytes(held[end:])
            yield from chunks
            return
    end = _header_end(held, final=True)
    if end is not None and end < len(held):
        yield bytes(held[end:])


def _header_end(held: bytearray, *, final: bool = False) -> int | None:
    """Where the first non-blank record ends (after its line end), once it is whole."""
    last = held.rfind(b"\n")
    text = bytes(held if final else held[: last + 1]).decode(errors="replace")
    reader = csv.reader(io.StringIO(text))
    try:
        for row in reader:
            if row:
                end = 0
                for _ in range(reader.line_num):
                    end = held.find(b"\n", end) + 1
                    if end == 0:
                        return len(held)
                # The csv module ends a quoted field at the end of its input: with an odd
                # number of quotes the record goes on past the lines held so far.
                if not final and held.count(b'"', 0, end) % 2:
                    return None
                return end
    except csv.Error:
        pass
    return len(held) if final else None


def record_blocks(chunks: Iterator[bytes], target: int, limit: int) -> Iterator[bytes]:
    """The body in blocks of whole records (cut at a line end outside quotes), about
    ``target`` bytes each; a record over ``limit`` raises."""
    held = bytearray()
    retry_at = target
    for chunk in chunks:
        held += chunk
        if len(held) < retry_at:
            continue
        cut = _cut(held)
        if cut:
            yield bytes(held[:cut])
            del held[:cut]
        # A record longer than the target: look again at twice the bytes (linear time).
        retry_at = max(target, 2 * len(held)) if not cut else target
        if len(held) > limit:
            raise BadTableError(RECORD_TOO_LARGE, DETAILS[RECORD_TOO_LARGE])
    if len(held) > limit:
        raise BadTableError(RECORD_TOO_LARGE, DETAILS[RECORD_TOO_LARGE])
    if held.strip(b"\r\n"):  # a line of spaces is a row (of one field)
        yield bytes(held) if held.endswith(b"\n") else bytes(held) + b"\n"


def _cut(held: bytearray | bytes, odd_at_end: int | None = None) -> int:
    """The end of the last line outside quotes by quote parity (exact for RFC 4180); 0 if none.

    ``odd_at_end``: the parity of the quotes before the end, if ``held`` does not start at a
    record's start."""
    odd = held.count(b'"') % 2 if odd_at_end is None else odd_at_end
    end = len(held)
    while True:
        quote = held.rfind(b'"', 0, end)
        if not odd and (newline := held.rfind(b"\n", quote + 1, end)) >= 0:
            return newline + 1
        if quote < 0:
            return 0
        odd, end = odd ^ 1, quote


class RecordSpan:
    """Follows a CSV body chunk by chunk as ``read_batches`` cuts it into records (by quote
    parity) and raises ``BadTableError`` once a record is longer than ``limit``: a deposit
    refused here is one a view could not read."""

    def __init__(self, limit: int = BLOCK_BYTES) -> None:
        self._limit = limit
        self._odd = 0
        self._open = 0  # bytes since the last record's end

    def update(self, chunk: bytes, quotes: int | None = None) -> None:
        """The next chunk; ``quotes``: how many quote characters it holds, if counted."""
        odd = (self._odd + (chunk.count(b'"') if quotes is None else quotes)) % 2
        cut = _cut(chunk, odd)
        self._open = len(chunk) - cut if cut else self._open + len(chunk)
        self._odd = odd
        if self._open > self._limit:
            raise BadTableError(RECORD_TOO_LARGE, DETAILS[RECORD_TOO_LARGE])
