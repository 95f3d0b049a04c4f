"""A dataset loaded for an action: agreements brought up to date, then the policy's check.

The datasets' public way in for other features (agreements name the dataset they escrow).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, bindparam, select

from escrow.datasets.disclosure import Grant, chosen_grant
from escrow.datasets.queries import resource_and_grants, storable_number
from escrow.guard import Target
from escrow.service import AccessRefresh, ServiceDeps
from storage.models import Dataset, DatasetVersion, Organization


def authorized_dataset(deps: ServiceDeps, dataset_id: str, action: str) -> Dataset:
    """The dataset, authorized for ``action``; one that does not exist is denied exactly as
    one the caller may not see (404, same audit events)."""
    return _authorized(deps, dataset_id, action)[0]


def authorized_with_owner(
    deps: ServiceDeps, dataset_id: str, action: str
) -> tuple[Dataset, Organization, Grant]:
    """``authorized_dataset``, its owner (for answers that name it), and what the caller's
    organization is granted of it (``disclosure.grant_for``), read with the decision's facts."""
    dataset, owner, _, grant = _authorized(deps, dataset_id, action)
    return dataset, owner, grant


def authorized_version(
    deps: ServiceDeps, dataset_id: str, action: str, number: int
) -> tuple[Dataset, DatasetVersion | None, Grant]:
    """``authorized_dataset``, its version ``number`` (None: it has none), read by the same
    query (nothing of the version is used unless the action is allowed), and the caller's
    grant as in ``authorized_with_owner``."""
    dataset, _, version, grant = _authorized(deps, dataset_id, action, number)
    return dataset, version, grant


def _authorized(
    deps: ServiceDeps, dataset_id: str, action: str, number: int | None = None
) -> tuple[Dataset, Organization, DatasetVersion | None, Grant]:
    """One query brings the dataset, its owner (which the policy's resource needs), whether
    the caller's agreements for it have anything due, and with ``number`` that version; a
    second the decision's facts and the caller's grants."""
    params = {
        "dataset_id": dataset_id,
        "org_id": deps.ctx.principal.org_id or "",  # no organization: nothing is due
        "now": deps.clock.now(),
    }
    if number is not None:
        params["number"] = storable_number(number)
    found = deps.session.execute(_query(deps.access, number is not None), params).first()
    if found is None:
        deps.guard.deny_missing(deps.session, deps.ctx, action, Target("dataset", dataset_id))
    dataset, owner, anything_due = found[:3]  # the owner stays in the session for the policy
    grant = _authorize(deps, dataset, action, refresh=bool(anything_due))
    return dataset, owner, found[3] if number is not None else None, grant


# _authorized's statements, by lifecycle type and whether they read a version: built once
# (a statement built per call costs more CPU than PostgreSQL spends answering it).
_QUERIES: dict[tuple[type[AccessRefresh], bool], Select[Any]] = {}


def _query(access: AccessRefresh, with_version: bool) -> Select[Any]:
    """The dataset ``:dataset_id``, its owner, and whether ``:org_id`` has agreements for it
    due at ``:now``; ``with_version``: and its version ``:number`` (None if it has none)."""
    key = (type(access), with_version)
    query = _QUERIES.get(key)
    if query is None:
        due = access.refresh_due(Dataset.id, bindparam("org_id"), bindparam("now"))
        query = (
            select(Dataset, Organization, due.label("due"))
            .join(Organization, Organization.id == Dataset.owner_org_id)
            .where(Dataset.id == bindparam("dataset_id"))
        )
        if with_version:
            query = query.add_columns(DatasetVersion).outerjoin(
                DatasetVersion,
                and_(
                    DatasetVersion.dataset_id == Dataset.id,
                    DatasetVersion.number == bindparam("number"),
                ),
            )
        _QUERIES[key] = query
    return query


def _authorize(deps: ServiceDeps, dataset: Dataset, action: str, *, refresh: bool) -> Grant:
    """Check ``action``; callers who may not even read the dataset get 404. The caller's
    grant of the dataset comes with the decision's facts (one statement), at the same instant.

    A partner's agreements for the dataset are brought up to date first, so a release that
    became due (or an expiry) counts at the second of access (``refresh`` False: the caller
    knows nothing is due).
    """
    session, ctx = deps.session, deps.ctx
    actor = ctx.principal
    if (
        refresh
        and actor.org_id != dataset.owner_org_id
        and deps.access.refresh_for_dataset(session, ctx, dataset.id, actor.org_id)
    ):
        session.commit()  # what became due, and the rows' locks released
    resource, grants = resource_and_grants(session, dataset, deps.clock.now(), actor.org_id)
    deps.guard.require(
        session,
        ctx,
        action,
        resource,
        Target("dataset", dataset.id, (dataset.owner_org_id,)),
        conceal=action == "read" or not deps.guard.allows(ctx, "read", resource),
    )
    return chosen_grant(dataset, actor.org_id, grants)
