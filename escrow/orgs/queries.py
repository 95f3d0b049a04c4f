"""Loading organizations and their partner relations as policy resources."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    case,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from escrow.errors import NotFoundError
from escrow.policy.resources import OrgResource
from storage.models import Organization, Partnership

PARTNER = "partner"
PARTNERS_OF = "partners_of"  # the bind parameter of PARTNERS_FACT


def partners_fact(org_id: ColumnElement[str]) -> Select[tuple[str, str]]:
    """``(PARTNER, org id)`` rows, one per active partnership of ``org_id`` (a bind
    parameter, or an expression of the enclosing statement's)."""
    # On the table, not the mapped class: a Core statement skips the ORM's per-execution work.
    partnerships = cast(Table, Partnership.__table__).c
    other = case(
        (partnerships.org_a_id == org_id, partnerships.org_b_id), else_=partnerships.org_a_id
    )
    return select(literal(PARTNER), other).where(
        partnerships.status == "active",
        or_(partnerships.org_a_id == org_id, partnerships.org_b_id == org_id),
    )


# ``partners_fact`` of the organization bound to PARTNERS_OF: a fact query that callers may
# UNION with their own facts to learn everything a decision needs at once. Built once: a
# statement built per call costs more CPU than PostgreSQL spends answering it (its
# construction and cache key, ~150 us).
PARTNERS_FACT = partners_fact(bindparam(PARTNERS_OF))


def partner_org_ids(session: Session, org_id: str) -> tuple[str, ...]:
    """Organizations with an active partnership with ``org_id``."""
    rows = session.execute(PARTNERS_FACT, {PARTNERS_OF: org_id})
    return tuple(sorted({other for _, other in rows}))


def active_partnership_exists(session: Session, org_x: str, org_y: str) -> bool:
    a, b = sorted((org_x, org_y))
    return (
        session.scalar(
            select(Partnership.id).where(
                and_(Partnership.org_a_id == a, Partnership.org_b_id == b),
                Partnership.status == "active",
            )
        )
        is not None
    )


def partnership_since(session: Session, org_x: str, org_y: str) -> datetime | None:
    """When the active partnership between two organizations was created, if there is one."""
    a, b = sorted((org_x, org_y))
    return session.scalar(
        select(Partnership.created_at).where(
            Partnership.org_a_id == a, Partnership.org_b_id == b, Partnership.status == "active"
        )
    )


def slugs_of(session: Session, org_ids: set[str]) -> dict[str, str]:
    """Organization id -> slug, for response bodies that name organizations by slug; those
    the session has loaded already (an authorization reads the owner) cost no query."""
    slugs: dict[str, str] = {}
    for org_id in org_ids:
        loaded = session.identity_map.get(identity_key(Organization, org_id))
        if isinstance(loaded, Organization):
            slugs[org_id] = loaded.slug
    missing = org_ids - slugs.keys()
    if missing:
        rows = session.execute(
            select(Organization.id, Organization.slug).where(Organization.id.in_(missing))
        )
        slugs.update((org_id, slug) for org_id, slug in rows)
    return slugs


def org_by_id(session: Session, org_id: str) -> Organization:
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFoundError(f"no organization with id {org_id!r}")
    return org


_BY_SLUG = select(Organization).where(Organization.slug == bindparam("slug"))


def find_org_or_none(session: Session, slug: str) -> Organization | None:
    return session.scalar(_BY_SLUG, {"slug": slug})


def _by_slug_with_partners() -> Select[tuple[Organization, str | None]]:
    organizations = cast(Table, Organization.__table__).c
    org_id = select(organizations.id).where(organizations.slug == bindparam("slug"))
    partners = partners_fact(org_id.scalar_subquery()).subquery("partners")
    return (
        select(Organization, partners.c[1])
        .outerjoin(partners, true())
        .where(Organization.slug == bindparam("slug"))
    )


# The organization ``:slug`` and its partners, a row per partner (one with None when it has
# none): a decision on it in one statement. Built once (see PARTNERS_FACT).
_BY_SLUG_WITH_PARTNERS = _by_slug_with_partners()


def find_org_resource_or_none(
    session: Session, slug: str
) -> tuple[Organization, OrgResource] | None:
    """``find_org_or_none``, and the organization for the policy (``as_resource``), read by
    one statement."""
    rows = session.execute(_BY_SLUG_WITH_PARTNERS, {"slug": slug}).all()
    if not rows:
        return None
    org = rows[0][0]
    partners = tuple(sorted({partner for _, partner in rows if partner is not None}))
    return org, as_resource(session, org, partners)


def find_org(session: Session, slug: str) -> Organization:
    org = find_org_or_none(session, slug)
    if org is None:
        raise NotFoundError(f"no organization {slug!r}")
    return org


def as_resource(
    session: Session, org: Organization, partners: tuple[str, ...] | None = None
) -> OrgResource:
    """The organization for the policy; ``partners`` if the caller already read them."""
    return OrgResource(
        id=org.id,
        slug=org.slug,
        status=org.status,
        tier=org.tier,
        partner_org_ids=partner_org_ids(session, org.id) if partners is None else partners,
    )
