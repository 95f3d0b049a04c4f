"""Shared request/response building blocks (msgspec; the HTTP parameters are in
``escrow.params``)."""

from __future__ import annotations

import re
from typing import Annotated, Generic, TypeVar

import msgspec

T = TypeVar("T")

# An organization's slug; shared by the bodies and the service that checks it, so it lives
# here rather than in escrow.orgs (which this module, used by every feature, must not import).
SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")


Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# A constraint in extra_json_schema is documented, not decoded: the service checks it and
# answers 422 naming the field (the API's contract for these rules), rather than a 400.
Slug = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=63, extra_json_schema={"pattern": SLUG_PATTERN.pattern}),
]


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every request body: unknown fields are an error, not silently dropped."""


class PageOut(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None
