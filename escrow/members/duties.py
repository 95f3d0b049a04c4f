"""Separation of duties: what an operator may do to another organization's principals.

Operators run the ecosystem but must never be able to read escrowed data, so they never
create a principal in, or mint a key for, an organization that has an admin (either would
let them act as a member). They seed an organization's first admin (its key is issued in
the same step, since no one else could issue it) and contain: suspend, reactivate, revoke a
key. Each such action is flagged on its audit event, which the org's admins see in their
trail and receive as an ``org.operator_action`` webhook. The rules are in main.polar.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.orgs.queries import as_resource
from escrow.policy.resources import OrgResource
from storage.models import Organization, Principal

# The audit details key naming an operator's action in an organization not its own.
OPERATOR_ACTION = "operator_action"


def has_admin(session: Session, org_id: str) -> bool:
    """Any principal not removed (a suspended admin still counts) holds "admin".

    Fails closed: suspending every admin does not let an operator seed a new one.
    """
    roles = session.scalars(
        select(Principal.roles).where(Principal.org_id == org_id, Principal.status != "removed")
    )
    return any("admin" in held for held in roles)


def with_admin_fact(session: Session, org: Organization) -> OrgResource:
    """The organization as the policy sees it, with whether it has an admin computed."""
    return replace(as_resource(session, org), has_admin=has_admin(session, org.id))


def operator_details(actor_org_id: str, org: Organization, action: str) -> dict[str, str]:
    """Audit details flagging ``action`` when taken from outside the organization."""
    return {OPERATOR_ACTION: action} if actor_org_id != org.id else {}
