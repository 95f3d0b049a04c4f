"""Loading datasets and versions as policy resources."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    SQLColumnExpression,
    Subquery,
    Table,
    and_,
    bindparam,
    case,
    literal,
    null,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from escrow.errors import NotFoundError
from escrow.orgs.queries import PARTNER, PARTNERS_FACT, PARTNERS_OF, org_by_id, partners_fact
from escrow.orgs.queries import as_resource as org_resource
from escrow.paging import MAX_INTEGER
from escrow.policy.resources import DatasetResource
from storage.models import Agreement, Dataset, DatasetVersion, Organization


def find_dataset(session: Session, dataset_id: str) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFoundError(f"no dataset {dataset_id!r}")
    return dataset


def find_version(session: Session, dataset: Dataset, number: int) -> DatasetVersion:
    version = session.scalar(select(DatasetVersion).where(_numbered(dataset.id, number)))
    if version is None:
        raise no_such_version(dataset.id, number)
    return version


def no_such_version(dataset_id: str, number: int) -> NotFoundError:
    return NotFoundError(f"dataset {dataset_id!r} has no version {number}")


def storable_number(number: int) -> int:
    """``number`` as a query may bind it: a number the column could not hold is no version's
    (0, which none has), never an out-of-range error from the database."""
    return number if 1 <= number <= MAX_INTEGER else 0


def _numbered(dataset_id: str, number: int) -> ColumnElement[bool]:
    return and_(
        DatasetVersion.dataset_id == dataset_id, DatasetVersion.number == storable_number(number)
    )


_GRANTEE = "grantee"
# The table's columns, not the mapped class's: statements made of them alone (the facts of a
# decision) skip the ORM's per-execution work; in ORM statements they are the same columns.
_AGREEMENTS = cast(Table, Agreement.__table__).c


def unexpired_release(
    dataset_id: str | SQLColumnExpression[str], now: datetime | SQLColumnExpression[datetime]
) -> tuple[ColumnElement[bool], ...]:
    """A released agreement for the dataset that has not expired at ``now`` (values, bind
    parameters or the enclosing query's columns)."""
    return (
        _AGREEMENTS.dataset_id == dataset_id,
        _AGREEMENTS.state == "released",
        or_(_AGREEMENTS.expires_at.is_(None), _AGREEMENTS.expires_at > now),
    )


def released_to(dataset_id: str, now: datetime) -> Select[tuple[str]]:
    """Organizations holding a released agreement for the dataset that has not expired."""
    return select(_AGREEMENTS.beneficiary_org_id).where(*unexpired_release(dataset_id, now))


def released_to_org(org_id: str, now: datetime) -> Select[tuple[int]]:
    """Correlated with the enclosing query's dataset: an unexpired release to the org."""
    return select(1).where(
        *unexpired_release(Dataset.id, now), _AGREEMENTS.beneficiary_org_id == org_id
    )


GRANTS_OF = "grants_of"  # the bind parameter of _FACTS: whose agreements it returns


def _of_grants_org(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``column`` of an agreement whose beneficiary is bound to GRANTS_OF; NULL for others'
    (a decision learns who holds a release, never another organization's view)."""
    return case((_AGREEMENTS.beneficiary_org_id == bindparam(GRANTS_OF), column))


# The owner's partners, the dataset's grantees at an instant, and the agreement id, view and
# release time of those grants held by the organization bound to GRANTS_OF, in one query (a
# UNION of both facts). The partners' rows carry NULLs typed as the agreements' columns: a
# UNION's result takes the first SELECT's types.
_GRANT_COLUMNS = (_AGREEMENTS.id, _AGREEMENTS.view, _AGREEMENTS.released_at)


def _facts(owner_id: ColumnElement[str]) -> CompoundSelect[Any]:
    return (
        partners_fact(owner_id)
        .add_columns(  # named: a derived table of the UNION needs distinct column names
            *(type_coerce(null(), c.type).label(f"grant_{c.name}") for c in _GRANT_COLUMNS)
        )
        .union_all(
            select(
                literal(_GRANTEE),
                _AGREEMENTS.beneficiary_org_id,
                *(_of_grants_org(column) for column in _GRANT_COLUMNS),
            ).where(*unexpired_release(bindparam("dataset_id"), bindparam("now")))
        )
    )


# Built once (see PARTNERS_FACT): the facts of the dataset bound to "dataset_id", whose owner
# is bound to PARTNERS_OF.
_FACTS = _facts(bindparam(PARTNERS_OF))


def dataset_facts() -> Subquery:
    """``resource_and_grants``'s facts as a derived table, for a statement that reads the
    dataset ``:dataset_id`` with them (its owner read by a subquery): its rows are
    ``resource_from_facts``'s (one statement for the dataset, its facts and the caller's
    grants, at ``:now`` for ``:grants_of``)."""
    datasets = cast(Table, Dataset.__table__).c
    owner = select(datasets.owner_org_id).where(datasets.id == bindparam("dataset_id"))
    return _facts(owner.scalar_subquery()).subquery("facts")


# An organization's grants of a dataset: (agreement id, view), latest release first.
Grants = list[tuple[str, dict[str, Any] | None]]


def as_resource(session: Session, dataset: Dataset, now: datetime | None = None) -> DatasetResource:
    """The dataset for the policy; with ``now``, also who holds a release at that instant.

    Deciding on a dataset costs one round trip besides its owner's row (``_FACTS``).
    """
    if now is not None:
        return resource_and_grants(session, dataset, now, None)[0]
    owner = org_by_id(session, dataset.owner_org_id)
    rows = session.execute(PARTNERS_FACT, {PARTNERS_OF: owner.id}).all()
    return _resource(session, dataset, owner, {org_id for _, org_id in rows}, ())


def resource_and_grants(
    session: Session, dataset: Dataset, now: datetime, org_id: str | None
) -> tuple[DatasetResource, Grants]:
    """``as_resource`` at ``now``, and ``org_id``'s grants of the dataset at that instant
    (``disclosure.chosen_grant`` chooses among them), read by the same statement."""
    owner = org_by_id(session, dataset.owner_org_id)
    params = {PARTNERS_OF: owner.id, "dataset_id": dataset.id, "now": now, GRANTS_OF: org_id}
    return resource_from_facts(session, dataset, owner, session.execute(_FACTS, params).all())


def resource_from_facts(
    session: Session, dataset: Dataset, owner: Organization, rows: Sequence[Sequence[Any]]
) -> tuple[DatasetResource, Grants]:
    """The resource and grants of ``resource_and_grants`` from its facts' rows."""
    partners = {row[1] for row in rows if row[0] == PARTNER}
    grantees = tuple(row[1] for row in rows if row[0] == _GRANTEE)
    held = sorted(  # as ORDER BY released_at DESC, id DESC would (NULLs first)
        (row for row in rows if row[2] is not None),
        key=lambda row: (row[4] is None, row[4], row[2]),
        reverse=True,
    )
    grants = [(row[2], row[3]) for row in held]
    return _resource(session, dataset, owner, partners, grantees), grants


def _resource(
    session: Session,
    dataset: Dataset,
    owner: Organization,
    partners: set[str],
    grantees: tuple[str, ...],
) -> DatasetResource:
    return DatasetResource(
        id=dataset.id,
        owner=org_resource(session, owner, tuple(sorted(partners))),
        labels=tuple(dataset.labels),
        status=dataset.status,
        released_to=tuple(sorted(grantees)),
    )
