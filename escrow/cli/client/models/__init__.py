"""The client's own copies of the API's request and response bodies (msgspec).

The client imports nothing of the server, so it keeps the shapes it speaks here, one
module per feature as the server has them. Requests forbid unknown fields and carry the
limits the server decodes with, so bad input is refused here with the same message;
responses ignore fields they do not know, so a newer server does not break an older
client. ``tests/api/client/test_client_contract.py`` holds them to the server's OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

import msgspec

__all__ = ["Name", "PageOut", "Request", "Slug"]

T = TypeVar("T")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=63)]  # the server checks the rest


class Request(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of every request body: an unknown field is a usage error, as on the server."""


class PageOut(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None
