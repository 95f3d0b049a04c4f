"""Shared request/response building blocks (msgspec)."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

import msgspec
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from escrow.service import ServiceDeps

T = TypeVar("T")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=63)]
Limit = Annotated[int, QueryParameter(ge=1, le=200, description="Page size (1-200).")]
Cursor = Annotated[str | None, QueryParameter(description="The next_cursor of the previous page.")]
Deps = NamedDependency[ServiceDeps]  # what every handler is given to build its service


class Input(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every request body: unknown fields are an error, not silently dropped."""


class PageOut(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None
