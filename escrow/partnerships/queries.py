"""Partnerships as the policy sees them; the partnerships' public way in for other features."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from escrow.policy.resources import PartnershipResource
from storage.models import Organization, Partnership


def as_resource(partnership: Partnership, session: Session | None = None) -> PartnershipResource:
    """The partnership for the policy; with ``session``, its organizations' statuses too
    (without one they count as active: callers that decide only read and end)."""
    org_ids = (partnership.org_a_id, partnership.org_b_id)
    statuses: tuple[str, ...] = ("active", "active")
    if session is not None:
        rows = session.execute(
            select(Organization.id, Organization.status).where(Organization.id.in_(org_ids))
        )
        found = {org_id: status for org_id, status in rows}
        statuses = tuple(found.get(org_id, "missing") for org_id in org_ids)
    return PartnershipResource(partnership.id, org_ids, partnership.status, statuses)
