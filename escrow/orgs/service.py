"""Organization use cases: create, list, read, update, suspend and reactivate."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from escrow.audit.log import AuditRecord
from escrow.context import PLATFORM_SLUG
from escrow.errors import ConflictError, InvalidStateError, ValidationError
from escrow.guard import Target
from escrow.orgs.access import authorized_org, org_resource_or_denied
from escrow.orgs.queries import partner_org_ids
from escrow.orgs.results import Org, org_of
from escrow.paging import Page, decode_cursor, paginate
from escrow.policy.resources import PLATFORM
from escrow.schemas import SLUG_PATTERN
from escrow.service import Service
from storage.models import Organization

TIERS = ("strategic", "core", "complementary", "ancillary")


def validate_tier(tier: str) -> str:
    if tier not in TIERS:
        raise ValidationError(f"tier must be one of {', '.join(TIERS)}", field="tier")
    return tier


class OrgService(Service):
    def create(self, slug: str, name: str, tier: str) -> Org:
        self.guard.require(
            self.session, self.ctx, "create_org", PLATFORM, Target("organization", slug)
        )
        if not SLUG_PATTERN.match(slug) or slug == PLATFORM_SLUG:
            raise ValidationError(
                "slug must be 3-63 characters of a-z, 0-9 and '-', starting with a letter,"
                f" and not {PLATFORM_SLUG!r}",
                field="slug",
            )
        now = self.deps.clock.now()
        org = Organization(
            id=self.deps.new_id(),
            slug=slug,
            name=name,
            tier=validate_tier(tier),
            status="active",
            created_at=now,
            updated_at=now,
        )
        self.session.add(org)
        try:
            self.session.flush()
        except IntegrityError:
            self.session.rollback()
            raise ConflictError(f"organization {slug!r} already exists", slug=slug) from None
        self.commit_with_event(
            AuditRecord("org.create", "success", "organization", org.id, org_ids=(org.id,))
        )
        return org_of(org)

    def list_visible(self, cursor: str | None, limit: int) -> Page:
        """A page of ``Org``s; filters in SQL what the policy's "read" rule allows (proven
        equal by a test)."""
        query = select(Organization).order_by(Organization.id).limit(limit + 1)
        if after := decode_cursor(cursor):
            query = query.where(Organization.id > after)
        if not self.guard.allows(self.ctx, "list_all_orgs", PLATFORM):
            actor = self.ctx.principal
            visible = [actor.org_id, *partner_org_ids(self.session, actor.org_id)]
            query = query.where(
                or_(
                    Organization.id == actor.org_id,
                    (Organization.id.in_(visible)) & (Organization.status == "active"),
                )
            )
        page = paginate(list(self.session.scalars(query)), limit)
        return Page([org_of(row) for row in page.items], page.next_cursor)

    def get(self, slug: str) -> Org:
        org, resource = org_resource_or_denied(self.deps, slug, "read")
        self.guard.require(
            self.session,
            self.ctx,
            "read",
            resource,
            Target("organization", org.id, (org.id,), named=slug),
            conceal=True,
        )
        return org_of(org)

    def update(self, slug: str, name: str | None, tier: str | None) -> Org:
        org = authorized_org(self.deps, slug, "update")
        if name is not None:
            org.name = name
        if tier is not None:
            org.tier = validate_tier(tier)
        org.updated_at = self.deps.clock.now()
        self.commit_with_event(
            AuditRecord(
                "org.update",
                "success",
                "organization",
                org.id,
                org_ids=(org.id,),
                details={"fields": sorted(k for k, v in {"name": name, "tier": tier}.items() if v)},
            )
        )
        return org_of(org)

    def set_status(self, slug: str, status: str) -> Org:
        org = authorized_org(self.deps, slug, "change_status")
        if org.slug == PLATFORM_SLUG:
            raise InvalidStateError("the platform organization cannot be suspended")
        if org.status == status:
            raise InvalidStateError(f"organization {slug!r} is already {status}")
        org.status = status
        org.updated_at = self.deps.clock.now()
        action = "org.suspend" if status == "suspended" else "org.reactivate"
        self.commit_with_event(
            AuditRecord(action, "success", "organization", org.id, org_ids=(org.id,))
        )
        return org_of(org)
