"""The protocol's list pagination: ``maxResults`` and opaque ``pageToken``s.

Listings are small (one table per live release to the recipient) and sorted by name, so a
page token is the last name served, base64url-encoded; the next page starts after it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

from escrow.errors import BadRequestError

T = TypeVar("T")
DEFAULT_MAX_RESULTS = 500  # the server may return fewer than asked for
MAX_PAGE = 1000
_INT32 = 2**31 - 1
MAX_TOKEN_LENGTH = 1024


def max_results(raw: str | None) -> int:
    """Fails closed: a non-number, a negative number or one beyond Int32 is a 400."""
    if raw is None or raw == "":
        return DEFAULT_MAX_RESULTS
    text = raw.strip()
    if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 12:
        raise BadRequestError("maxResults: expected a number", field="maxResults")
    value = int(text)
    if value < 0:
        raise BadRequestError("maxResults must be non-negative", field="maxResults")
    if value > _INT32:
        raise BadRequestError("maxResults is not an Int32 value", field="maxResults")
    return min(value, MAX_PAGE)


def after_token(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    try:
        if len(raw) > MAX_TOKEN_LENGTH or not raw.isascii():
            raise ValueError(raw)
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequestError(
            "pageToken is not one this server issued", field="pageToken"
        ) from None
    if not key.startswith("after:"):
        raise BadRequestError("pageToken is not one this server issued", field="pageToken")
    return key.removeprefix("after:")


def token_after(key: str) -> str:
    return base64.urlsafe_b64encode(f"after:{key}".encode()).decode("ascii").rstrip("=")


def page(
    items: Sequence[T], key: Callable[[T], str], limit: int, token: str | None
) -> tuple[list[T], str | None]:
    """Items sorted by ``key`` after the token's key; the next token when more remain."""
    after = after_token(token)
    rest = [item for item in items if after is None or key(item) > after]
    served = rest[:limit]
    if len(rest) <= limit:
        return served, None
    if not served:  # maxResults=0: nothing now, the same position next time
        return [], token or token_after("")
    return served, token_after(key(served[-1]))
