"""An organization loaded for an action: the policy's check, with concealed denials.

The organizations' public way in for other features (members, webhooks, sharing), which
act within an organization named in their URL.
"""

from __future__ import annotations

from escrow.guard import Target
from escrow.orgs.queries import as_resource, find_org_or_none
from escrow.service import ServiceDeps
from storage.models import Organization


def org_or_denied(deps: ServiceDeps, slug: str, action: str) -> Organization:
    """The organization, or the same concealed denial as for one the caller may not see."""
    org = find_org_or_none(deps.session, slug)
    if org is None:
        deps.guard.deny_missing(
            deps.session, deps.ctx, action, Target("organization", None, named=slug)
        )
    return org


def authorized_org(deps: ServiceDeps, slug: str, action: str) -> Organization:
    """The organization if the caller may do ``action`` in it; outsiders who cannot even read
    it get 404, as for a slug that names no organization (same answer, same audit events)."""
    org = org_or_denied(deps, slug, action)
    resource = as_resource(deps.session, org)
    deps.guard.require(
        deps.session,
        deps.ctx,
        action,
        resource,
        Target("organization", org.id, (org.id,), named=slug),
        conceal=not deps.guard.allows(deps.ctx, "read", resource),
    )
    return org
