"""The long-lived parts of authentication, from which each unit of work's AuthService is made."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from escrow.audit.log import AuditLog
from escrow.auth.cache import AuthCache
from escrow.auth.failures import BearerFailures
from escrow.auth.rate_limit import TokenRateLimits
from escrow.auth.service import AuthService
from escrow.auth.tokens import TokenAuthority
from escrow.clock import Clock
from escrow.context import RequestContext
from escrow.guard import Guard
from escrow.policy.resources import OrgResource
from storage.db import Database
from storage.models import Organization


@dataclass(frozen=True)
class Authentication:
    db: Database
    tokens: TokenAuthority
    audit: AuditLog
    clock: Clock
    limits: TokenRateLimits  # POST /v1/auth/token
    failures: BearerFailures  # failed bearer authentication
    org_resource: Callable[[Session, Organization], OrgResource]
    owners: AuthCache  # owners of verified access tokens, until the auth epoch moves
    guard: Guard  # who may revoke whose token

    def service(self, session: Session, ctx: RequestContext) -> AuthService:
        return AuthService(
            session,
            ctx,
            self.tokens,
            self.audit,
            self.clock,
            self.limits,
            self.failures,
            self.org_resource,
            self.owners,
        )

    @contextmanager
    def unit_of_work(self, ctx: RequestContext) -> Iterator[AuthService]:
        with self.db.session() as session:
            yield self.service(session, ctx)
