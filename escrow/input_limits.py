"""Limits on what a request may carry, held before any handler uses it (README: Input limits).

Body size is litestar's ``request_max_body_size`` (413); field lengths, list sizes and page
sizes are msgspec/litestar constraints in each feature's schemas. This module holds what
must hold before any handler runs: header fields within bounds (431, RFC 6585), JSON bodies
nested no deeper than a bound (422, checked before decoding, which a recursive decoder would
otherwise pay for or fail on), and no NUL character (U+0000) in the URL or in any JSON
text (422: PostgreSQL text cannot hold it, so it would otherwise fail deep inside).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from escrow.errors import (
    HeadersTooLargeError,
    JsonTooDeepError,
    NotFoundError,
    NulCharacterError,
)

# Identifiers in the path are at most this long: nothing longer is stored, and a refusal
# audits the identifier asked for (audit_events.resource_id holds 128 characters).
MAX_PATH_SEGMENT = 128

# A JSON string, also an unterminated one, in one linear pass (possessive: no backtracking).
_STRING = re.compile(rb'"(?:[^"\\]++|\\(?s:.)?)*+(?:"|\Z)')
_BRACKETS = b"[]{}"
_AS_STEPS = bytes.maketrans(_BRACKETS, b"\x01\xff\x01\xff")  # +1 / -1 as signed bytes
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in ``body`` (brackets inside strings do not count).

    Linear time, loops in C: strings are blanked out, the brackets left become +1/-1 steps
    and the deepest running sum is the depth. Meant for bodies the size limit already bounds.
    """
    skeleton = _STRING.sub(b"", body).translate(_AS_STEPS, _NOT_BRACKETS)
    return max(itertools.accumulate(memoryview(skeleton).cast("b")), default=0)


def check_json_depth(body: bytes, max_depth: int) -> None:
    """Fails closed: a body nested deeper than ``max_depth`` is refused before decoding."""
    if body.count(b"[") + body.count(b"{") <= max_depth:  # cannot be deeper: skip the scan
        return
    depth = json_depth(body)
    if depth > max_depth:
        raise JsonTooDeepError(
            f"the JSON body nests {depth} levels deep; at most {max_depth}",
            max_depth=max_depth,
        )


def check_no_nul(value: Any, body: bytes) -> None:
    """Fails closed: no key or string of a decoded JSON ``value`` holds U+0000.

    JSON can only carry it escaped, so bodies without a ``\\u0000`` escape skip the walk.
    """
    if b"\\u0000" in body and _holds_nul(value):
        raise NulCharacterError("text may not contain the NUL character (U+0000)")


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


class LimitedRequest(Request[Any, Any, Any]):
    """The app's request class: JSON bodies are checked before and after litestar decodes them."""

    async def json(self) -> Any:
        limits = self.app.state.components.settings.input_limits
        body = await self.body()
        check_json_depth(body, limits.max_json_depth)
        value = await super().json()
        check_no_nul(value, body)  # the depth check bounds this walk's recursion
        return value


class InputLimitMiddleware:
    """Refuses too many header fields or bytes of them (431), NUL in the URL (422), and
    path segments no identifier is as long as (404)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            limits = scope["app"].state.components.settings.input_limits
            headers = list(scope["headers"])
            if len(headers) > limits.max_header_count:
                raise HeadersTooLargeError(
                    f"the request has {len(headers)} header fields; at most"
                    f" {limits.max_header_count}",
                    max_header_count=limits.max_header_count,
                )
            size = sum(len(name) + len(value) for name, value in headers)
            if size > limits.max_header_bytes:
                raise HeadersTooLargeError(
                    f"the request's header fields hold {size} bytes; at most"
                    f" {limits.max_header_bytes}",
                    max_header_bytes=limits.max_header_bytes,
                )
            if "\x00" in scope["path"] or _holds_encoded_nul(scope["query_string"]):
                raise NulCharacterError("the URL may not contain the NUL character (%00)")
            if any(len(segment) > MAX_PATH_SEGMENT for segment in scope["path"].split("/")):
                raise NotFoundError(f"no resource has a name over {MAX_PATH_SEGMENT} characters")
        await self.app(scope, receive, send)


def _holds_encoded_nul(query: bytes) -> bool:
    return b"\x00" in query or b"%00" in query
