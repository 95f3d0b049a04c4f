"""The long-lived components of a running service and the per-request dependency providers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from sqlalchemy.orm import Session

from escrow.audit.log import AuditLog
from escrow.auth.service import AuthService
from escrow.auth.tokens import TokenAuthority
from escrow.clock import Clock
from escrow.config import Settings
from escrow.context import RequestContext
from escrow.ids import IdFactory
from escrow.policy.engine import PolicyEngine
from escrow.policy.guard import Guard
from escrow.service import ServiceDeps
from storage.db import Database


@dataclass
class Components:
    settings: Settings
    db: Database
    clock: Clock
    new_id: IdFactory
    audit: AuditLog
    policy: PolicyEngine
    tokens: TokenAuthority

    @property
    def guard(self) -> Guard:
        return Guard(self.policy, self.audit)


def request_context(request: Request[Any, Any, Any]) -> RequestContext:
    client = request.client
    return RequestContext(
        request_id=request.scope.get("state", {}).get("request_id", "-"),
        actor=request.scope.get("user"),
        client_ip=client.host if client else None,
    )


def auth_service(components: Components, session: Session, ctx: RequestContext) -> AuthService:
    return AuthService(session, ctx, components.tokens, components.audit, components.clock)


def provide_deps(
    request: Request[Any, Any, Any], db_session: NamedDependency[Session]
) -> ServiceDeps:
    components: Components = request.app.state.components
    return ServiceDeps(
        session=db_session,
        ctx=request_context(request),
        guard=components.guard,
        audit=components.audit,
        clock=components.clock,
        new_id=components.new_id,
    )
