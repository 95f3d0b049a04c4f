"""Per-request dependency providers: litestar's side of ``escrow.components``."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from sqlalchemy.orm import Session

from escrow.audit.trail import AuditTrail
from escrow.components import Components, service_deps
from escrow.context import RequestContext
from escrow.service import ServiceDeps


def request_context(request: Request[Any, Any, Any]) -> RequestContext:
    client = request.client
    return RequestContext(
        request_id=request.scope.get("state", {}).get("request_id", "-"),
        actor=request.scope.get("user"),
        client_ip=client.host if client else None,
    )


def provide_deps(
    request: Request[Any, Any, Any], db_session: NamedDependency[Session]
) -> ServiceDeps:
    return service_deps(request.app.state.components, db_session, request_context(request))


def provide_audit_trail(request: Request[Any, Any, Any]) -> AuditTrail:
    components: Components = request.app.state.components
    return components.trail
