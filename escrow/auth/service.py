"""Authentication use cases: API key -> access token, token -> actor, token revocation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from escrow.audit.log import AuditLog, AuditRecord
from escrow.auth.cache import AuthCache
from escrow.auth.failures import RATE_LIMITED, BearerFailures, FailureReport
from escrow.auth.rate_limit import Refusal, TokenRateLimits
from escrow.auth.secrets import burn_equivalent_time, verify_secret
from escrow.auth.tokens import TokenAuthority
from escrow.clock import Clock
from escrow.context import Actor, RequestContext
from escrow.errors import AuthenticationError, RateLimitedError
from escrow.guard import Guard, Target
from escrow.policy.resources import AccessTokenResource, OrgResource
from storage.db import discard_writes
from storage.models import ApiKey, Organization, Principal, RevokedToken

# Reasons a token holder may learn; the others would help probe the key space.
_EXPLAINED = frozenset(
    {"expired", "missing_token", "revoked_token", "suspended_org", "revoked_key", "expired_key"}
)

# Actions that check an API key's secret: their refusals all read the same.
_CLIENT_ACTIONS = frozenset({"auth.token", "auth.client"})


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


class AuthService:
    def __init__(
        self,
        session: Session,
        ctx: RequestContext,
        tokens: TokenAuthority,
        audit: AuditLog,
        clock: Clock,
        limits: TokenRateLimits,
        failures: BearerFailures,
        org_resource: Callable[[Session, Organization], OrgResource],
        owners: AuthCache,
    ) -> None:
        self.session = session
        self.owners = owners  # tokens' owners remembered in this process
        self._org_resource = org_resource  # the organizations' own (escrow.policy.facts)
        self.ctx = ctx
        self.tokens = tokens
        self.audit = audit
        self.clock = clock
        self.limits = limits
        self.failures = failures

    def exchange_key(self, key_id: str, secret: str) -> IssuedToken:
        """Fails closed: over a rate limit 429 (secret unchecked); bad keys and owners 401."""
        key, principal, org = self._verified_key(key_id, secret, "auth.token")
        key.last_used_at = self.clock.now()
        token = self.tokens.issue(
            principal_id=principal.id,
            org_id=org.id,
            org_slug=org.slug,
            roles=list(principal.roles),
            key_id=key.id,
        )
        ctx = RequestContext(
            self.ctx.request_id, _actor(principal, org, key.id), self.ctx.client_ip
        )
        self.audit.append(
            self.session,
            ctx,
            AuditRecord("auth.token", "success", "api_key", key.id, org_ids=(org.id,)),
        )
        self.session.commit()
        return IssuedToken(token, self.tokens.ttl_seconds)

    def authenticate_client(self, key_id: str, secret: str) -> Actor:
        """An OAuth client (API key) authenticated for a request other than a token, such as
        RFC 7009 revocation. Fails closed like exchange_key, with the same rate limits."""
        key, principal, org = self._verified_key(key_id, secret, "auth.client")
        return _actor(principal, org, key.id)

    def _verified_key(
        self, key_id: str, secret: str, action: str
    ) -> tuple[ApiKey, Principal, Organization]:
        attempt = self.limits.admit(key_id, self.ctx.client_ip)
        if isinstance(attempt, Refusal):
            self._refuse(key_id, attempt, action)
        with attempt:  # a 401 from here on counts as a failed attempt
            found = self._live_key(key_id)
            if found is None:
                burn_equivalent_time(secret)
                self._deny(action, "api_key", key_id, "unknown_key", ())
            key, principal, org = found
            if not verify_secret(secret, key.secret_hash):
                self._deny(action, "api_key", key_id, "bad_secret", (org.id,))
            if reason := self._inactive_reason(key, principal, org):
                self._deny(action, "api_key", key_id, reason, (org.id,))
            return key, principal, org

    def authenticate(self, token: str) -> Actor:
        """Fails closed: signature, claims, revocation and the owner's current state all count.

        An address failing faster than its limit gets 429 before its token is looked at.
        """
        if (wait := self.failures.retry_after(self.ctx.client_ip)) is not None:
            self._refuse_bearer(wait)
        try:
            claims = self.tokens.verify(token)
        except AuthenticationError as exc:
            self._fail(None, exc.extra["reason"], ())
        stamp = self.owners.stamp()  # taken before the owner is read: escrow.auth.cache
        # One query on the way in: the token's key, principal and org, and its revocation.
        revoked_token = exists().where(RevokedToken.jti == claims.jti).label("revoked")
        row = (
            self.session.execute(_owner_of(claims.key_id).add_columns(revoked_token)).first()
            if claims.key_id
            else None
        )
        if row is None:  # unknown key: say "revoked" all the same if the token was revoked
            revoked = self.session.get(RevokedToken, claims.jti) is not None
            self._fail(claims.jti, "revoked_token" if revoked else "unknown_key", ())
        key, principal, org, revoked = row
        if revoked:
            self._fail(claims.jti, "revoked_token", ())
        if principal.id != claims.principal_id:
            self._fail(claims.jti, "unknown_key", ())
        if reason := self._inactive_reason(key, principal, org):
            self._fail(claims.jti, reason, (org.id,))
        actor = _actor(principal, org, key.id, claims.jti)
        self.owners.put(claims.jti, actor, stamp, key.expires_at)
        return actor

    def reject_missing_token(self) -> NoReturn:
        if (wait := self.failures.retry_after(self.ctx.client_ip)) is not None:
            self._refuse_bearer(wait)
        self._fail(None, "missing_token", ())

    def _fail(self, token_id: str | None, reason: str, org_ids: tuple[str, ...]) -> NoReturn:
        """A failure an organization should see (its suspended org, revoked key) is audited
        in its trail; the others, from callers nobody knows, are counted per address."""
        if org_ids:
            self.failures.charge(self.ctx.client_ip)
            self._deny("auth.authenticate", "access_token", token_id, reason, org_ids)
        report = self.failures.failed(self.ctx.client_ip, reason)
        if report is not None:
            self._audit_failures(reason, report)
        shown = reason if reason in _EXPLAINED else "invalid"
        raise AuthenticationError(f"access token rejected: {shown}", reason=shown)

    def _refuse_bearer(self, retry_after: int) -> NoReturn:
        report = self.failures.failed(self.ctx.client_ip, RATE_LIMITED, charge=False)
        if report is not None:
            self._audit_failures(RATE_LIMITED, report)
        raise RateLimitedError(
            f"too many failed authentications; retry in {retry_after} s",
            retry_after=retry_after,
        )

    def _audit_failures(self, reason: str, report: FailureReport) -> None:
        """One event per address and window: this failure, and the tally since the last."""
        discard_writes(self.session)
        self.audit.append(
            self.session,
            self.ctx,
            AuditRecord(
                "auth.authenticate",
                "denied",
                "access_token",
                None,
                reason,
                details={
                    "window_seconds": report.window_seconds,
                    "failures_since_last_event": report.earlier,
                },
            ),
            last=True,
        )
        self.session.commit()

    def revoke(self, guard: Guard, token: str) -> None:
        """RFC 7009: revoking an invalid or unknown token succeeds and changes nothing."""
        try:
            claims = self.tokens.verify(token)
        except AuthenticationError:
            return
        if self.session.get(RevokedToken, claims.jti) is not None:
            return
        owner = self.session.get(Principal, claims.principal_id)
        org = self.session.get(Organization, claims.org_id)
        if owner is None or org is None:
            return
        guard.require(
            self.session,
            self.ctx,
            "revoke",
            AccessTokenResource(owner.id, self._org_resource(self.session, org)),
            Target("access_token", claims.jti, (org.id,)),
        )
        self.session.add(
            RevokedToken(
                jti=claims.jti,
                principal_id=owner.id,
                expires_at=claims.expires_at,
                revoked_at=self.clock.now(),
            )
        )
        self.audit.append(
            self.session,
            self.ctx,
            AuditRecord("auth.revoke", "success", "access_token", claims.jti, org_ids=(org.id,)),
        )
        self.session.commit()

    def _refuse(self, key_id: str, refusal: Refusal, action: str) -> NoReturn:
        """The first refusal per subject and window is audited; it counts the ones since."""
        if refusal.audit:
            found = self._live_key(key_id)
            self.audit.append(
                self.session,
                self.ctx,
                AuditRecord(
                    action,
                    "denied",
                    "api_key",
                    key_id,
                    "rate_limited",
                    (found[2].id,) if found else (),
                    details={
                        "limit": refusal.limit,
                        "retry_after": refusal.retry_after,
                        "unaudited_since_last": refusal.unaudited,
                    },
                ),
            )
            self.session.commit()
        raise RateLimitedError(
            f"too many token requests; retry in {refusal.retry_after} s",
            retry_after=refusal.retry_after,
        )

    def _live_key(self, key_id: str) -> tuple[ApiKey, Principal, Organization] | None:
        row = self.session.execute(_owner_of(key_id)).first()
        return None if row is None else (row[0], row[1], row[2])

    def _inactive_reason(self, key: ApiKey, principal: Principal, org: Organization) -> str | None:
        now = self.clock.now()
        if key.revoked_at is not None:
            return "revoked_key"
        if key.expires_at is not None and key.expires_at <= now:
            return "expired_key"
        if principal.status != "active":
            return "removed_principal"
        if org.status != "active":
            return "suspended_org"
        return None

    def _deny(
        self,
        action: str,
        resource_type: str,
        resource_id: str | None,
        reason: str,
        org_ids: tuple[str, ...],
    ) -> NoReturn:
        discard_writes(self.session)
        self.audit.append(
            self.session,
            self.ctx,
            AuditRecord(action, "denied", resource_type, resource_id, reason, org_ids),
            last=True,
        )
        self.session.commit()
        if action in _CLIENT_ACTIONS:  # say nothing that helps enumerate keys
            raise AuthenticationError("invalid client credentials")
        shown = reason if reason in _EXPLAINED else "invalid"
        raise AuthenticationError(f"access token rejected: {shown}", reason=shown)


def remembered_owner(
    token: str,
    client_ip: str | None,
    tokens: TokenAuthority,
    owners: AuthCache,
    failures: BearerFailures,
    clock: Clock,
) -> Actor | None:
    """The owner of a valid token as this process remembers it, without the database; None
    when it must be authenticated in full (``AuthService.authenticate``, which also refuses
    and audits what fails here)."""
    if failures.retry_after(client_ip) is not None:
        return None
    try:
        claims = tokens.verify(token)
    except AuthenticationError:
        return None
    return owners.get(claims.jti, clock.now())


def _owner_of(key_id: str) -> Select[tuple[ApiKey, Principal, Organization]]:
    return (
        select(ApiKey, Principal, Organization)
        .join(Principal, ApiKey.principal_id == Principal.id)
        .join(Organization, Principal.org_id == Organization.id)
        .where(ApiKey.id == key_id)
    )


def _actor(principal: Principal, org: Organization, key_id: str, jti: str | None = None) -> Actor:
    return Actor(
        id=principal.id,
        org_id=org.id,
        org_slug=org.slug,
        roles=tuple(principal.roles),
        org_active=org.status == "active",
        kind=principal.kind,
        key_id=key_id,
        token_id=jti,
    )
