"""The acting context of an HTTP request: its id, its authenticated caller, its client."""

from __future__ import annotations

from typing import Any

from litestar import Request

from escrow.context import RequestContext


def request_context(request: Request[Any, Any, Any]) -> RequestContext:
    client = request.client
    return RequestContext(
        request_id=request.scope.get("state", {}).get("request_id", "-"),
        actor=request.scope.get("user"),
        client_ip=client.host if client else None,
    )
