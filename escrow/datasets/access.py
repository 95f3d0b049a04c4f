"""A dataset loaded for an action: agreements brought up to date, then the policy's check.

The datasets' public way in for other features (agreements name the dataset they escrow).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, bindparam, select, true
from sqlalchemy.orm import defer

from escrow.datasets.disclosure import Grant, chosen_grant
from escrow.datasets.queries import (
    GRANTS_OF,
    dataset_facts,
    resource_and_grants,
    resource_from_facts,
    storable_number,
)
from escrow.guard import Target
from escrow.policy.resources import DatasetResource
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
    organization is granted of it (``disclosure.chosen_grant``), read with the decision's facts."""
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
    """One statement brings the dataset, its owner (which the policy's resource needs),
    whether the caller's agreements for it have anything due, with ``number`` that version,
    and the decision's facts with the caller's grants (a row per fact)."""
    org_id = deps.ctx.principal.org_id
    now = deps.clock.now()
    params = {
        "dataset_id": dataset_id,
        "org_id": org_id or "",  # no organization: nothing is due
        "now": now,
        GRANTS_OF: org_id,
    }
    if number is not None:
        params["number"] = storable_number(number)
    rows = deps.session.execute(_query(deps.access, number is not None), params).all()
    if not rows:
        deps.guard.deny_missing(deps.session, deps.ctx, action, Target("dataset", dataset_id))
    first = rows[0]
    dataset, owner, anything_due = first[:3]  # the owner stays in the session for the policy
    if anything_due and _refreshed(deps, dataset):
        resource, grants = resource_and_grants(deps.session, dataset, now, org_id)
    else:
        facts = [row[_FACT_COLUMNS] for row in rows if row[_FACT_COLUMNS.start] is not None]
        resource, grants = resource_from_facts(deps.session, dataset, owner, facts)
    _require(deps, dataset, action, resource)
    version = first[_FACT_COLUMNS.stop] if number is not None else None
    return dataset, owner, version, chosen_grant(dataset, org_id, grants)


# Where the facts' columns are in _query's rows (after the dataset, its owner and "due"; the
# version, when asked for, comes after them).
_FACT_COLUMNS = slice(3, 8)

# _authorized's statements, by lifecycle type and whether they read a version: built once
# (a statement built per call costs more CPU than PostgreSQL spends answering it).
_QUERIES: dict[tuple[type[AccessRefresh], bool], Select[Any]] = {}


def _query(access: AccessRefresh, with_version: bool) -> Select[Any]:
    """The dataset ``:dataset_id``, its owner, whether ``:org_id`` has agreements for it due
    at ``:now`` and the facts of a decision on it (``queries.dataset_facts``), one row per
    fact (one with NULL facts when there are none); ``with_version``: and its version
    ``:number`` (None if it has none)."""
    key = (type(access), with_version)
    query = _QUERIES.get(key)
    if query is None:
        due = access.refresh_due(Dataset.id, bindparam("org_id"), bindparam("now"))
        facts = dataset_facts()
        query = (
            select(Dataset, Organization, due.label("due"), *facts.c)
            .join(Organization, Organization.id == Dataset.owner_org_id)
            .outerjoin(facts, true())
            .where(Dataset.id == bindparam("dataset_id"))
        )
        if with_version:
            query = (
                query.add_columns(DatasetVersion)
                .outerjoin(
                    DatasetVersion,
                    and_(
                        DatasetVersion.dataset_id == Dataset.id,
                        DatasetVersion.number == bindparam("number"),
                    ),
                )
                # A download has no use for the signed receipt: neither read nor parsed.
                .options(defer(DatasetVersion.receipt, raiseload=True))
            )
        _QUERIES[key] = query
    return query


def _refreshed(deps: ServiceDeps, dataset: Dataset) -> bool:
    """A partner's agreements for the dataset brought up to date, so that a release that
    became due (or an expiry) counts at the second of access; whether any changed (then
    committed, and the decision's facts must be read again)."""
    actor = deps.ctx.principal
    if actor.org_id == dataset.owner_org_id or not deps.access.refresh_for_dataset(
        deps.session, deps.ctx, dataset.id, actor.org_id
    ):
        return False
    deps.session.commit()  # what became due, and the rows' locks released
    return True


def _require(deps: ServiceDeps, dataset: Dataset, action: str, resource: DatasetResource) -> None:
    """Check ``action``; callers who may not even read the dataset get 404."""
    deps.guard.require(
        deps.session,
        deps.ctx,
        action,
        resource,
        Target("dataset", dataset.id, (dataset.owner_org_id,)),
        conceal=action == "read" or not deps.guard.allows(deps.ctx, "read", resource),
    )
