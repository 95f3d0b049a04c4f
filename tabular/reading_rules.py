"""The limits of the table readers (``tabular.reading``) and the reasons they refuse a table with.

``guard`` runs one step of an Arrow reader and turns its errors into those reasons.
"""

from __future__ import annotations

from typing import Any, Final

import pyarrow as pa

from tabular.errors import BadTableError

__all__ = [
    "BLOCK_BYTES",
    "DETAILS",
    "DUPLICATE_COLUMNS",
    "NOT_UTF8",
    "RAGGED_ROW",
    "RECORD_TOO_LARGE",
    "TARGET_BYTES",
    "UNREADABLE",
    "guard",
]

BLOCK_BYTES: Final = 16 << 20  # the longest record a reader takes
TARGET_BYTES: Final = 1 << 20  # the input a batch is read from, unless a record is longer
NOT_UTF8: Final = "not utf-8"
RECORD_TOO_LARGE: Final = "record too large"
RAGGED_ROW: Final = "ragged row"
DUPLICATE_COLUMNS: Final = "duplicate column names"
UNREADABLE: Final = "unreadable"

DETAILS: Final = {
    NOT_UTF8: "the table is not UTF-8",
    RECORD_TOO_LARGE: "a record is longer than the reader's block",
    RAGGED_ROW: "a row's number of fields differs from the header's",
    UNREADABLE: "the table is not readable in its format",
    DUPLICATE_COLUMNS: "the header repeats a column name",
}


def guard(step: Any) -> Any:
    """Runs a reader step; Arrow's errors (whose messages may quote data) become reasons."""
    try:
        return step()
    except pa.ArrowInvalid as error:
        raise BadTableError(_reason(str(error)), DETAILS[_reason(str(error))]) from None
    except (pa.ArrowException, OSError, ValueError, TypeError, OverflowError):
        raise BadTableError(UNREADABLE, DETAILS[UNREADABLE]) from None


def _reason(message: str) -> str:
    if "UTF8" in message or "UTF-8" in message or "utf8" in message:
        return NOT_UTF8
    if "straddling" in message or "block" in message:
        return RECORD_TOO_LARGE
    if "Expected" in message and "columns" in message:
        return RAGGED_ROW
    return UNREADABLE
