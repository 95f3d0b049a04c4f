"""First start: the platform organization, and a fresh operator key on every run."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from escrow.audit.log import AuditRecord
from escrow.auth.secrets import hash_secret, new_key_id, new_secret
from escrow.components import Components
from escrow.context import PLATFORM_SLUG, RequestContext
from storage.models import ApiKey, Organization, Principal

OPERATOR_ACCOUNT = "bootstrap-operator"


@dataclass(frozen=True)
class BootstrapResult:
    org: str
    key_id: str
    secret: str
    created_org: bool


def bootstrap(components: Components) -> BootstrapResult:
    """Idempotent for the org and account; always issues (and audits) one new operator key."""
    clock, new_id = components.clock, components.new_id
    ctx = RequestContext(request_id=f"bootstrap-{uuid.uuid4().hex[:12]}")
    with components.db.session() as session:
        now = clock.now()
        org = session.scalar(select(Organization).where(Organization.slug == PLATFORM_SLUG))
        created_org = org is None
        if org is None:
            org = Organization(
                id=new_id(),
                slug=PLATFORM_SLUG,
                name="Platform",
                tier="strategic",
                status="active",
                created_at=now,
                updated_at=now,
            )
            session.add(org)
            session.flush()
        operator = session.scalar(
            select(Principal).where(
                Principal.org_id == org.id,
                Principal.kind == "service",
                Principal.name == OPERATOR_ACCOUNT,
            )
        )
        if operator is None:
            operator = Principal(
                id=new_id(),
                org_id=org.id,
                kind="service",
                name=OPERATOR_ACCOUNT,
                roles=["admin", "operator"],
                status="active",
                created_at=now,
                updated_at=now,
            )
            session.add(operator)
            session.flush()
        operator.status = "active"
        secret = new_secret()
        key = ApiKey(
            id=new_key_id(),
            principal_id=operator.id,
            secret_hash=hash_secret(secret),
            created_at=now,
        )
        session.add(key)
        session.flush()
        components.audit.append(
            session,
            ctx,
            AuditRecord(
                "platform.bootstrap",
                "success",
                "api_key",
                key.id,
                org_ids=(org.id,),
                details={"created_org": created_org, "principal": operator.id},
            ),
        )
        session.commit()
    return BootstrapResult(PLATFORM_SLUG, key.id, secret, created_org)
