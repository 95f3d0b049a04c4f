"""An organization loaded for an action: the policy's check, with concealed denials.

The organizations' public way in for other features (members, webhooks, sharing), which
act within an organization named in their URL.
"""

from __future__ import annotations

from typing import NoReturn

from escrow.guard import Target
from escrow.orgs.queries import find_org_or_none, find_org_resource_or_none
from escrow.policy.resources import OrgResource
from escrow.service import ServiceDeps
from storage.models import Organization


def org_or_denied(deps: ServiceDeps, slug: str, action: str) -> Organization:
    """The organization, or the same concealed denial as for one the caller may not see."""
    org = find_org_or_none(deps.session, slug)
    if org is None:
        _deny_missing(deps, slug, action)
    return org


def authorized_org(deps: ServiceDeps, slug: str, action: str) -> Organization:
    """The organization if the caller may do ``action`` in it; outsiders who cannot even read
    it get 404, as for a slug that names no organization (same answer, same audit events)."""
    org, resource = org_resource_or_denied(deps, slug, action)
    deps.guard.require(
        deps.session,
        deps.ctx,
        action,
        resource,
        Target("organization", org.id, (org.id,), named=slug),
        conceal=not deps.guard.allows(deps.ctx, "read", resource),
    )
    return org


def org_resource_or_denied(
    deps: ServiceDeps, slug: str, action: str
) -> tuple[Organization, OrgResource]:
    """``org_or_denied``, and the organization for the policy, read by one statement."""
    found = find_org_resource_or_none(deps.session, slug)
    if found is None:
        _deny_missing(deps, slug, action)
    return found


def _deny_missing(deps: ServiceDeps, slug: str, action: str) -> NoReturn:
    deps.guard.deny_missing(
        deps.session, deps.ctx, action, Target("organization", None, named=slug)
    )
