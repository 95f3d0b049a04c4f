"""Keyset pages: page sizes, the cursors this API issues, and turning rows into a page."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from escrow.errors import ValidationError

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_INTEGER = 2**31 - 1  # PostgreSQL INTEGER: a number beyond it names nothing stored
MAX_BIGINT = 2**63 - 1


@dataclass(frozen=True)
class Page:
    """A keyset page: items plus the cursor of the next page (None on the last one)."""

    items: list[Any]
    next_cursor: str | None


def encode_cursor(last_key: str) -> str:
    return base64.urlsafe_b64encode(last_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("cursor is not one this API issued", field="cursor") from None
    if "\x00" in key:  # never in a key this API issued, and PostgreSQL text cannot hold it
        raise ValidationError("cursor is not one this API issued", field="cursor")
    return key


def decode_number_cursor(cursor: str | None, maximum: int = MAX_BIGINT) -> int | None:
    """A cursor that holds a number: ASCII digits, at most ``maximum`` (its column's range)."""
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= maximum):
        raise ValidationError("cursor is not one this API issued", field="cursor")
    return int(raw)


def page_size(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit")
    return limit


def paginate(rows: list[Any], limit: int, key: str = "id") -> Page:
    """Turn limit+1 fetched rows into a page."""
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(rows, encode_cursor(str(getattr(rows[-1], key))))
    return Page(rows, None)
