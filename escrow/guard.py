"""Authorization checks for services: ask the policy, audit denials, raise the right error.

The policy engine (escrow.policy) makes the decisions this module enforces; it imports the
``Decision`` defined here, never the reverse, so that every use case, the policy's own
included, can be guarded without a cycle.

A concealed denial (answered 404) must look the same whether its target exists or not, in
the answer and in every audit event the caller's organization can read afterwards. So it is
scoped to the caller's organization alone, names the target as the caller named it, and the
target's organization goes into a second event that only operators read (no organization
scope). A target that does not exist is denied the same way, with the same two events.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import NoReturn, Protocol

from sqlalchemy.orm import Session

from escrow.audit.log import AuditLog, AuditRecord
from escrow.context import Actor, RequestContext
from escrow.errors import ForbiddenError, NotFoundError
from escrow.instruments import AUTHZ_DECISIONS
from storage.db import discard_writes


@dataclass(frozen=True)
class Decision:
    allowed: bool
    policy_version: str


class Decider(Protocol):
    """The policy as the guard asks it (escrow.policy's engine and store are deciders)."""

    @property
    def version(self) -> str: ...

    def decide(self, actor: Actor, action: str, resource: object) -> Decision: ...


@dataclass(frozen=True)
class Target:
    """How an authorization check names its resource in the audit trail."""

    resource_type: str
    resource_id: str | None
    org_ids: tuple[str, ...] = ()
    named: str | None = None  # what the caller called it (a slug), if not resource_id

    def as_named(self) -> Target:
        """The target as the caller named it, without what only its existence would tell."""
        return Target(self.resource_type, self.named or self.resource_id)


class Guard:
    def __init__(self, engine: Decider, audit: AuditLog) -> None:
        self.engine = engine
        self.audit = audit

    def allows(self, ctx: RequestContext, action: str, resource: object) -> bool:
        return self.engine.decide(ctx.principal, action, resource).allowed

    def require(
        self,
        session: Session,
        ctx: RequestContext,
        action: str,
        resource: object,
        target: Target,
        *,
        conceal: bool = False,
    ) -> Decision:
        """Fails closed: a denial is audited and committed, then raised (404 when concealed)."""
        decision = self.engine.decide(ctx.principal, action, resource)
        # Counted here, where decisions are enforced; ``allows`` also serves probes (what to
        # list, whether to conceal), which are not requests being allowed or denied.
        AUTHZ_DECISIONS.labels(action, "allowed" if decision.allowed else "denied").inc()
        if decision.allowed:
            return decision
        if conceal:
            self._deny_concealed(session, ctx, action, target, decision.policy_version)
        discard_writes(session)
        denial = _denial(action, target, decision.policy_version)
        self.audit.append(session, ctx, denial, last=True)
        session.commit()
        raise ForbiddenError(f"policy does not allow {action!r} on this {target.resource_type}")

    def deny_missing(
        self, session: Session, ctx: RequestContext, action: str, target: Target
    ) -> NoReturn:
        """Fails closed: ``action`` on a target that does not exist is denied exactly as on
        one that exists but the caller may not see (same answer, same audit events)."""
        AUTHZ_DECISIONS.labels(action, "denied").inc()
        self._deny_concealed(session, ctx, action, target, self.engine.version)

    def _deny_concealed(
        self,
        session: Session,
        ctx: RequestContext,
        action: str,
        target: Target,
        policy_version: str,
    ) -> NoReturn:
        named = target.as_named()
        discard_writes(session)
        # The operators' record names the denial by the request both carry (request_id).
        operator_only = RequestContext(ctx.request_id, None, ctx.client_ip)
        concealed = (
            operator_only,
            AuditRecord(
                action="authz.concealed_target",
                outcome="denied",
                resource_type=named.resource_type,
                resource_id=named.resource_id,
                reason="concealed",
                details={
                    "action": action,
                    "actor": ctx.principal.id,
                    "target_orgs": sorted(set(target.org_ids)),
                    # Entropy in the leaf: the caller sees this event's leaf hash (hashes are
                    # public) and knows the rest of it, so without it a guessed target org
                    # could be confirmed against that hash.
                    "nonce": secrets.token_hex(16),
                },
                policy_version=policy_version,
            ),
        )
        # Both in one append: the head is asked for once.
        denied = (ctx, _denial(action, named, policy_version))
        self.audit.append_all(session, [denied, concealed], last=True)
        session.commit()
        raise NotFoundError(f"no {named.resource_type} {named.resource_id!r}")


def _denial(action: str, target: Target, policy_version: str) -> AuditRecord:
    return AuditRecord(
        action=action,
        outcome="denied",
        resource_type=target.resource_type,
        resource_id=target.resource_id,
        reason="policy",
        org_ids=target.org_ids,
        policy_version=policy_version,
    )
