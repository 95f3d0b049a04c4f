"""The activity report's figures, aggregated in SQL over the tables that record them.

Each kind of fact is a *source*: rows ``(key, at, n, amount)`` and the organizations each
row involves ``(key, org_id)``. A report sums ``n`` and ``amount`` per period and per
organization. An organization's report keeps the facts that involve it and files each under
every *other* organization involved (its partners); the ecosystem's files each under every
organization involved. Facts of one organization alone (deposits) have no partner.

Portable between PostgreSQL and SQLite: periods are told apart by one CASE over bound times
(no ``date_trunc``), and the one JSON member read (a download's ``bytes``) is extracted per
dialect. Only the median time to release needs rows: one per release in the window.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Subquery,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from escrow.ecosystem.periods import Window
from storage.models import (
    Agreement,
    AgreementDecision,
    AgreementParty,
    AuditEvent,
    AuditEventOrg,
    Dataset,
    DatasetVersion,
)

DOWNLOAD, VIEW_DOWNLOADED = "dataset.download", "dataset.download.view"
PARTY_ROLES = ("owner", "beneficiary")  # not approvers or attesters: they are not parties
ONE: ColumnElement[int] = literal_column("1")
ZERO: ColumnElement[int] = literal_column("0")


@dataclass
class Tally:
    count: int = 0
    amount: int = 0  # bytes; for pending agreements, the approvals they still need

    def add(self, count: int, amount: int) -> None:
        self.count += count
        self.amount += amount


@dataclass
class Figures:
    interactions: Tally = field(default_factory=Tally)
    deposits: Tally = field(default_factory=Tally)
    downloads: Tally = field(default_factory=Tally)
    pending: Tally = field(default_factory=Tally)
    seconds_to_release: list[float] = field(default_factory=list)

    @property
    def releases(self) -> int:
        return len(self.seconds_to_release)

    @property
    def median_seconds_to_release(self) -> float | None:
        return statistics.median(self.seconds_to_release) if self.seconds_to_release else None


@dataclass
class Report:
    window: Window
    org_id: str | None  # None: the whole ecosystem
    totals: Figures
    periods: list[Figures]
    partners: dict[str, Figures]  # organization id -> what involved it (and org_id)


@dataclass(frozen=True)
class _Source:
    rows: Subquery  # key, at, n, amount
    orgs: Subquery  # key, org_id


def measure(session: Session, window: Window, org_id: str | None, now: datetime) -> Report:
    """Everything in ``window`` that involves ``org_id`` (None: everything), and the
    approvals pending at ``now``."""
    report = Report(
        window, org_id, Figures(), [Figures() for _ in window.buckets], defaultdict(Figures)
    )
    dialect = session.get_bind().dialect.name
    flows = {
        "interactions": _interactions(window),
        "deposits": _deposits(window),
        "downloads": _downloads(window, dialect),
    }
    for name, source in flows.items():
        for index, count, amount in _per_period(session, source, window, org_id):
            _tally(report.periods[index], name).add(count, amount)
            _tally(report.totals, name).add(count, amount)
        for partner, count, amount in _per_org(session, source, org_id):
            _tally(report.partners[partner], name).add(count, amount)
    _releases(session, window, org_id, report)
    pending = _pending(now)
    for partner, count, amount in _per_org(session, pending, org_id):
        report.partners[partner].pending.add(count, amount)
    report.totals.pending.add(*_total(session, pending, org_id))
    return report


def _tally(figures: Figures, name: str) -> Tally:
    tally: Tally = getattr(figures, name)
    return tally


# ---------------------------------------------------------------------- sources


def _interactions(window: Window) -> _Source:
    """Audit events: every state change, denial and audited read."""
    at = AuditEvent.occurred_at
    rows = select(AuditEvent.seq.label("key"), at.label("at"), ONE.label("n"), ZERO.label("amount"))
    orgs = select(AuditEventOrg.seq.label("key"), AuditEventOrg.org_id.label("org_id"))
    return _Source(rows.where(_within(at, window)).subquery(), orgs.subquery())


def _deposits(window: Window) -> _Source:
    """Committed versions (shredded ones too: they were deposited) by their owner."""
    at = DatasetVersion.created_at
    rows = select(
        DatasetVersion.id.label("key"),
        at.label("at"),
        ONE.label("n"),
        DatasetVersion.size.label("amount"),
    ).where(_within(at, window))
    orgs = (
        select(DatasetVersion.id.label("key"), Dataset.owner_org_id.label("org_id"))
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(_within(at, window))
    )
    return _Source(rows.subquery(), orgs.subquery())


def _downloads(window: Window, dialect: str) -> _Source:
    """Downloads as audited when they start, with the bytes each serves; a view's bytes
    come with the event written when it has streamed to its end."""
    at = AuditEvent.occurred_at
    rows = select(
        AuditEvent.seq.label("key"),
        at.label("at"),
        case((AuditEvent.action == DOWNLOAD, ONE), else_=ZERO).label("n"),
        func.coalesce(_detail_int(dialect, "bytes"), ZERO).label("amount"),
    ).where(
        _within(at, window),
        AuditEvent.action.in_((DOWNLOAD, VIEW_DOWNLOADED)),
        AuditEvent.outcome == "success",
    )
    orgs = select(AuditEventOrg.seq.label("key"), AuditEventOrg.org_id.label("org_id"))
    return _Source(rows.subquery(), orgs.subquery())


def _pending(now: datetime) -> _Source:
    """Pending, unexpired agreements still short of approvals, and how many they need."""
    approved = (
        select(AgreementDecision.agreement_id, func.count().label("given"))
        .where(AgreementDecision.decision == "approve")
        .group_by(AgreementDecision.agreement_id)
        .subquery()
    )
    missing = Agreement.required_approvals - func.coalesce(approved.c.given, ZERO)
    rows = (
        select(Agreement.id.label("key"), ONE.label("n"), missing.label("amount"))
        .outerjoin(approved, approved.c.agreement_id == Agreement.id)
        .where(
            Agreement.state == "pending",
            or_(Agreement.expires_at.is_(None), Agreement.expires_at > now),
            missing > 0,
        )
    )
    return _Source(rows.subquery(), _parties().subquery())


def _parties() -> Any:
    return select(AgreementParty.agreement_id.label("key"), AgreementParty.org_id).where(
        AgreementParty.role.in_(PARTY_ROLES)
    )


def _detail_int(dialect: str, name: str) -> ColumnElement[Any]:
    """An integer member of an audit event's ``details`` (NULL when absent or null)."""
    if dialect == "postgresql":
        value: ColumnElement[Any] = cast(AuditEvent.entry, JSONB)["details"][name].astext
    else:  # SQLite's JSON1, built into every supported Python
        value = func.json_extract(AuditEvent.entry, f"$.details.{name}")
    return cast(value, BigInteger)


# ---------------------------------------------------------------------- sums


def _per_period(
    session: Session, source: _Source, window: Window, org_id: str | None
) -> Iterable[tuple[int, int, int]]:
    rows = source.rows.c
    # Grouped in an outer query: PostgreSQL would not match the CASE's bound parameters in
    # GROUP BY against those in the select list.
    inner = (
        select(_period_of(rows.at, window).label("period"), rows.n, rows.amount)
        .where(*_involving(source, org_id))
        .subquery()
    )
    query = select(inner.c.period, func.sum(inner.c.n), func.sum(inner.c.amount)).group_by(
        inner.c.period
    )
    return [(int(p), int(n or 0), int(a or 0)) for p, n, a in session.execute(query)]


def _per_org(
    session: Session, source: _Source, org_id: str | None
) -> Iterable[tuple[str, int, int]]:
    rows, orgs = source.rows.c, source.orgs.c
    query = (
        select(orgs.org_id, func.sum(rows.n), func.sum(rows.amount))
        .join_from(source.rows, source.orgs, orgs.key == rows.key)
        .where(*_involving(source, org_id))
        .group_by(orgs.org_id)
    )
    if org_id is not None:
        query = query.where(orgs.org_id != org_id)
    return [(str(o), int(n or 0), int(a or 0)) for o, n, a in session.execute(query)]


def _total(session: Session, source: _Source, org_id: str | None) -> tuple[int, int]:
    rows = source.rows.c
    query = select(func.sum(rows.n), func.sum(rows.amount)).where(*_involving(source, org_id))
    count, amount = session.execute(query).one()
    return int(count or 0), int(amount or 0)


def _involving(source: _Source, org_id: str | None) -> list[ColumnElement[bool]]:
    if org_id is None:
        return []
    orgs = source.orgs.alias()  # its own alias: never correlated with an outer join of orgs
    return [source.rows.c.key.in_(select(orgs.c.key).where(orgs.c.org_id == org_id))]


def _within(at: Any, window: Window) -> ColumnElement[bool]:
    return and_(at >= window.start, at < window.end)


def _period_of(at: Any, window: Window) -> ColumnElement[Any]:
    ends = window.boundaries
    if not ends:
        return ZERO
    whens: list[tuple[ColumnElement[bool], ColumnElement[int]]] = [
        (at < end, literal_column(str(index))) for index, end in enumerate(ends)
    ]
    return case(*whens, else_=literal_column(str(len(ends))))


# ---------------------------------------------------------------------- releases


def _releases(session: Session, window: Window, org_id: str | None, report: Report) -> None:
    """Releases and their time from agreement to release: rows, for the medians."""
    released = select(Agreement.id, Agreement.created_at, Agreement.released_at).where(
        _within(Agreement.released_at, window)
    )
    if org_id is not None:
        released = released.where(
            Agreement.id.in_(
                select(AgreementParty.agreement_id).where(
                    AgreementParty.org_id == org_id, AgreementParty.role.in_(PARTY_ROLES)
                )
            )
        )
    ids = released.with_only_columns(Agreement.id)
    partners: dict[str, set[str]] = defaultdict(set)
    for key, party in session.execute(_parties().where(AgreementParty.agreement_id.in_(ids))):
        if party != org_id:
            partners[key].add(party)
    for key, created_at, released_at in session.execute(released):
        seconds = (released_at - created_at).total_seconds()
        touched = [report.totals, report.periods[window.bucket_index(released_at)]]
        for figures in touched + [report.partners[p] for p in partners[key]]:
            figures.seconds_to_release.append(seconds)
