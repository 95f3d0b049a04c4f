"""First start: the platform organization, and a fresh operator key on every run."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.audit.log import AuditLog, AuditRecord
from escrow.auth.secrets import hash_secret, new_key_id, new_secret
from escrow.clock import Clock
from escrow.context import PLATFORM_SLUG, RequestContext
from escrow.ids import IdFactory
from storage.db import Database
from storage.models import ApiKey, Organization, Principal

OPERATOR_ACCOUNT = "bootstrap-operator"


@dataclass(frozen=True)
class BootstrapResult:
    org: str
    key_id: str
    secret: str
    created_org: bool


def bootstrap(db: Database, audit: AuditLog, clock: Clock, new_id: IdFactory) -> BootstrapResult:
    """Idempotent for the org and account; always issues (and audits) one new operator key."""
    ctx = RequestContext(request_id=f"bootstrap-{uuid.uuid4().hex[:12]}")
    with db.session() as session:
        now = clock.now()
        org, created_org = _platform_org(session, new_id, now)
        operator = _operator_account(session, org, new_id, now)
        secret = new_secret()
        key = ApiKey(
            id=new_key_id(),
            principal_id=operator.id,
            secret_hash=hash_secret(secret),
            created_at=now,
        )
        session.add(key)
        session.flush()
        audit.append(
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


def _platform_org(session: Session, new_id: IdFactory, now: datetime) -> tuple[Organization, bool]:
    """The platform organization, created if missing (and whether it was)."""
    org = session.scalar(select(Organization).where(Organization.slug == PLATFORM_SLUG))
    if org is not None:
        return org, False
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
    return org, True


def _operator_account(
    session: Session, org: Organization, new_id: IdFactory, now: datetime
) -> Principal:
    """The bootstrap operator service account, created if missing, active either way."""
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
    return operator
