"""The long-lived components of a running service, and the services built from them.

No web framework here: services, jobs and the CLI take these; ``escrow.wiring`` adapts them
to litestar's dependency injection.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from crypto import KeyManager
from escrow.audit.log import AuditLog
from escrow.audit.trail import AuditTrail
from escrow.auth.cache import AuthCache
from escrow.auth.failures import BearerFailures
from escrow.auth.rate_limit import TokenRateLimits
from escrow.auth.service import AuthService
from escrow.auth.tokens import TokenAuthority
from escrow.clock import Clock
from escrow.config import Settings
from escrow.context import RequestContext
from escrow.ids import IdFactory
from escrow.overlaps.compute import OverlapCache
from escrow.policy.facts import PolicyFacts
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
    keyring: KeyManager  # the keyring file or a PKCS#11 token (escrow.keys.configured)
    blobs: BlobStore
    trail: AuditTrail
    token_limits: TokenRateLimits  # POST /v1/auth/token
    bearer_failures: BearerFailures  # failed bearer authentication
    # The features' rows as policy resources, for explain and impact (escrow.policy.facts).
    policy_facts: PolicyFacts
    # Owners of verified access tokens, until the auth epoch moves (escrow.auth.cache).
    auth_cache: AuthCache = field(default_factory=AuthCache)
    # Overlap results in this process's memory only (escrow.overlaps.compute).
    overlap_cache: OverlapCache = field(default_factory=OverlapCache)
    # Uniform draws in [0, 1) for jitter (webhook backoff); tests inject a fixed source.
    random: Callable[[], float] = field(default=secrets.SystemRandom().random)

    @property
    def guard(self) -> Guard:
        return Guard(self.policy, self.audit)


def auth_service(components: Components, session: Session, ctx: RequestContext) -> AuthService:
    return AuthService(
        session,
        ctx,
        components.tokens,
        components.audit,
        components.clock,
        components.token_limits,
        components.bearer_failures,
        components.policy_facts.organization,
        components.auth_cache,
    )


def service_deps(components: Components, session: Session, ctx: RequestContext) -> ServiceDeps:
    return ServiceDeps(session=session, ctx=ctx, components=components)
