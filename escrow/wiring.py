"""The long-lived components of a running service and the per-request dependency providers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from sqlalchemy.orm import Session

from crypto import Keyring
from escrow.audit.log import AuditLog
from escrow.audit.trail import AuditTrail
from escrow.auth.failures import BearerFailures
from escrow.auth.rate_limit import TokenRateLimits
from escrow.auth.service import AuthService
from escrow.auth.tokens import TokenAuthority
from escrow.clock import Clock
from escrow.config import Settings
from escrow.context import RequestContext
from escrow.ids import IdFactory
from escrow.overlaps.compute import OverlapCache
from escrow.policy.guard import Guard
from escrow.policy.store import PolicyStore
from escrow.service import ServiceDeps
from storage.blobs import BlobStore
from storage.db import Database


@dataclass
class Components:
    settings: Settings
    db: Database
    clock: Clock
    new_id: IdFactory
    audit: AuditLog
    policy: PolicyStore  # the active bundle's engine, reloaded when another is activated
    tokens: TokenAuthority
    keyring: Keyring
    blobs: BlobStore
    trail: AuditTrail
    token_limits: TokenRateLimits  # POST /v1/auth/token, per process
    bearer_failures: BearerFailures  # failed bearer authentication, per process
    # Overlap results in this process's memory only (escrow.overlaps.compute).
    overlap_cache: OverlapCache = field(default_factory=OverlapCache)

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
    return AuthService(
        session,
        ctx,
        components.tokens,
        components.audit,
        components.clock,
        components.token_limits,
        components.bearer_failures,
    )


def service_deps(components: Components, session: Session, ctx: RequestContext) -> ServiceDeps:
    return ServiceDeps(session=session, ctx=ctx, components=components)


def provide_deps(
    request: Request[Any, Any, Any], db_session: NamedDependency[Session]
) -> ServiceDeps:
    return service_deps(request.app.state.components, db_session, request_context(request))


def provide_audit_trail(request: Request[Any, Any, Any]) -> AuditTrail:
    components: Components = request.app.state.components
    return components.trail
