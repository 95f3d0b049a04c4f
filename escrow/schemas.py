"""Shared request/response building blocks (msgspec)."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

import msgspec
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from escrow.orgs.service import SLUG_PATTERN
from escrow.service import MAX_PAGE_SIZE, ServiceDeps

T = TypeVar("T")

MAX_CURSOR_LENGTH = 512  # cursors this API issues are base64url keys, far shorter
MAX_QUERY_TEXT = 128  # free-text query filters (ids, action names)

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# A constraint in extra_json_schema is documented, not decoded: the service checks it and
# answers 422 naming the field (the API's contract for these rules), rather than a 400.
Slug = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=63, extra_json_schema={"pattern": SLUG_PATTERN.pattern}),
]
Limit = Annotated[
    int,
    QueryParameter(ge=1, le=MAX_PAGE_SIZE, description=f"Page size (1-{MAX_PAGE_SIZE})."),
]
Cursor = Annotated[
    str | None,
    QueryParameter(
        max_length=MAX_CURSOR_LENGTH,
        description="The next_cursor of the previous page (empty or absent: the first page).",
    ),
]
QueryText = Annotated[str | None, QueryParameter(max_length=MAX_QUERY_TEXT)]
Deps = NamedDependency[ServiceDeps]  # what every handler is given to build its service


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every request body: unknown fields are an error, not silently dropped."""


class PageOut(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None
