"""A dataset loaded for an action: agreements brought up to date, then the policy's check.

The datasets' public way in for other features (agreements name the dataset they escrow).
"""

from __future__ import annotations

from escrow.datasets.queries import as_resource
from escrow.guard import Target
from escrow.policy.resources import DatasetResource
from escrow.service import ServiceDeps
from storage.models import Dataset


def authorized_dataset(deps: ServiceDeps, dataset_id: str, action: str) -> Dataset:
    """The dataset, authorized for ``action``; one that does not exist is denied exactly as
    one the caller may not see (404, same audit events)."""
    dataset = deps.session.get(Dataset, dataset_id)
    if dataset is None:
        deps.guard.deny_missing(deps.session, deps.ctx, action, Target("dataset", dataset_id))
    authorize_dataset(deps, dataset, action)
    return dataset


def authorize_dataset(deps: ServiceDeps, dataset: Dataset, action: str) -> DatasetResource:
    """Check ``action``; callers who may not even read the dataset get 404.

    A partner's agreements for the dataset are brought up to date first, so a release that
    became due (or an expiry) counts at the second of access.
    """
    session, ctx = deps.session, deps.ctx
    actor = ctx.principal
    if actor.org_id != dataset.owner_org_id and deps.access.refresh_for_dataset(
        session, ctx, dataset.id, actor.org_id
    ):
        session.commit()  # what became due, and the rows' locks released
    resource = as_resource(session, dataset, deps.clock.now())
    deps.guard.require(
        session,
        ctx,
        action,
        resource,
        Target("dataset", dataset.id, (dataset.owner_org_id,)),
        conceal=action == "read" or not deps.guard.allows(ctx, "read", resource),
    )
    return resource
