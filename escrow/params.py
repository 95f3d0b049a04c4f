"""Request parameters of the HTTP layer (litestar): page sizes, cursors, query text, and
the dependency every handler is given to build its service."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from litestar import Request
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.handlers import BaseRouteHandler
from litestar.params import ParameterKwarg, QueryParameter

from escrow.paging import MAX_PAGE_SIZE
from escrow.service import ServiceDeps

MAX_CURSOR_LENGTH = 512  # cursors this API issues are base64url keys, far shorter
MAX_QUERY_TEXT = 128  # free-text query filters (ids, action names)

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


# Keyword arguments litestar fills from the request itself, never from the query string.
_RESERVED_KWARGS = frozenset(
    {"request", "state", "headers", "query", "cookies", "scope", "data", "socket", "body"}
)


@cache
def _single_valued_query_names(handler: BaseRouteHandler) -> frozenset[str]:
    """The query keys ``handler`` reads as one value (not a list): a repeat is ambiguous."""
    dependencies = handler.resolve_dependencies()
    names: set[str] = set()
    for name, field in handler.parsed_fn_signature.parameters.items():
        if name in dependencies or name in _RESERVED_KWARGS or field.is_non_string_sequence:
            continue
        kwarg = field.kwarg_definition
        if isinstance(kwarg, ParameterKwarg):
            if kwarg.header or kwarg.cookie:
                continue
            names.add(kwarg.query or name)
        elif kwarg is None:
            names.add(name)
    return frozenset(names)


def refuse_repeated_parameters(request: Request[Any, Any, Any]) -> None:
    """``?index=1&index=2`` is refused (400) rather than read as its last value, which
    would let a request mean what its first value did not say. Path parameters share the
    signature but not the query string, so a repeat of their name is ignored like any
    unknown query parameter."""
    keys = list(request.query_params)  # a key given twice is listed twice
    distinct = set(keys)
    if len(keys) == len(distinct):
        return  # the common case: no key given twice
    repeated = {key for key in distinct if keys.count(key) > 1}
    single = _single_valued_query_names(request.route_handler) - set(request.path_params)
    if named := sorted(repeated & single):
        raise ValidationException(
            detail=f"query parameter {named[0]!r} is given more than once; give it once",
            extra=[
                {"key": key, "source": "query", "message": "given more than once"} for key in named
            ],
        )
