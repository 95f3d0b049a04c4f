"""Authorization checks for services: ask the policy, audit denials, raise the right error."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from escrow.audit.log import AuditLog, AuditRecord
from escrow.context import RequestContext
from escrow.errors import ForbiddenError, NotFoundError
from escrow.metrics.instruments import AUTHZ_DECISIONS
from escrow.policy.engine import Decision, Policy


@dataclass(frozen=True)
class Target:
    """How an authorization check names its resource in the audit trail."""

    resource_type: str
    resource_id: str | None
    org_ids: tuple[str, ...] = ()


class Guard:
    def __init__(self, engine: Policy, audit: AuditLog) -> None:
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
        session.rollback()
        self.audit.append(
            session,
            ctx,
            AuditRecord(
                action=action,
                outcome="denied",
                resource_type=target.resource_type,
                resource_id=target.resource_id,
                reason="policy",
                org_ids=target.org_ids,
                policy_version=decision.policy_version,
            ),
        )
        session.commit()
        if conceal:
            raise NotFoundError(f"no {target.resource_type} {target.resource_id!r}")
        raise ForbiddenError(f"policy does not allow {action!r} on this {target.resource_type}")
