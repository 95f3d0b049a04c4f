"""Calling services as a request would: one request's worth of service dependencies for a
principal (as the database holds it now, or authenticated by its token), and the audit
events a request left behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select

from escrow.components import Components
from escrow.context import Actor, RequestContext
from escrow.service import ServiceDeps
from storage.models import AuditEvent, AuditEventOrg, Organization, Principal
from tests.fixtures.api import Caller
from tests.fixtures.audit import log_session


@contextmanager
def acting_as(components: Components, principal_id: str, request_id: str) -> Iterator[ServiceDeps]:
    """A session and a context whose actor is the principal as the database holds it now
    (roles, org status), like an authenticated request; uncommitted work rolls back."""
    with components.db.session() as session:
        principal = session.get_one(Principal, principal_id)
        org = session.get_one(Organization, principal.org_id)
        actor = Actor(
            principal.id,
            org.id,
            org.slug,
            tuple(principal.roles),
            org.status == "active",
            kind=principal.kind,
        )
        yield components.shared.bind(session, RequestContext(request_id, actor))


def events_of(components: Components, request_id: str) -> list[tuple[str, str]]:
    """(action, outcome) of each committed audit event the request wrote, in log order (read
    in a session of its own, so only what was committed counts)."""
    with log_session(components) as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.outcome)
            .where(AuditEvent.request_id == request_id)
            .order_by(AuditEvent.seq)
        )
        return [(action, outcome) for action, outcome in rows]


def denials_of(components: Components, request_id: str) -> list[tuple[str | None, str, str]]:
    """(actor, action, reason) of each committed denial the request wrote, in log order; a
    concealed denial adds an operator-only event with no actor."""
    with log_session(components) as session:
        rows = session.execute(
            select(AuditEvent.actor_id, AuditEvent.action, AuditEvent.reason)
            .where(AuditEvent.request_id == request_id, AuditEvent.outcome == "denied")
            .order_by(AuditEvent.seq)
        )
        return [(actor, action, reason or "") for actor, action, reason in rows]


def entries_of(components: Components, request_id: str) -> list[dict[str, Any]]:
    """The committed audit entries (the Merkle leaves' JSON) the request wrote, in log order."""
    with log_session(components) as session:
        rows = session.scalars(
            select(AuditEvent.entry)
            .where(AuditEvent.request_id == request_id)
            .order_by(AuditEvent.seq)
        )
        return [json.loads(entry) for entry in rows]


def context_of(components: Components, caller: Caller) -> RequestContext:
    """The request context a route would get: the caller's token, authenticated now."""
    with components.authentication.unit_of_work(RequestContext("-")) as auth:
        actor = auth.authenticate(caller.token)
    return RequestContext("service-test", actor)


@contextmanager
def authenticated_as(components: Components, caller: Caller) -> Iterator[ServiceDeps]:
    """One request's session and context, as the routes' ``Deps`` are built."""
    ctx = context_of(components, caller)
    with components.shared.unit_of_work(ctx) as deps:
        yield deps


def audit_events(components: Components, action: str) -> list[AuditEvent]:
    with log_session(components) as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        return list(session.scalars(query))


def orgs_of(components: Components, seq: int) -> set[str]:
    """The organizations whose scoped reads include event ``seq``."""
    with log_session(components) as session:
        query = select(AuditEventOrg.org_id).where(AuditEventOrg.seq == seq)
        return set(session.scalars(query))
