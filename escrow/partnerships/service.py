"""Partnership use cases: operators link and unlink organizations; members see their own."""

from __future__ import annotations

import re

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from escrow.audit.log import AuditRecord
from escrow.errors import ConflictError, InvalidStateError, ValidationError
from escrow.guard import Target
from escrow.orgs.queries import find_org, slugs_of
from escrow.paging import Page, decode_cursor, paginate
from escrow.partnerships.queries import as_resource
from escrow.partnerships.results import PartnershipRecord, partnership_of
from escrow.policy.resources import PLATFORM
from escrow.service import Service
from storage.models import Partnership

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")


class PartnershipService(Service):
    def create(self, slugs: list[str], kind: str) -> PartnershipRecord:
        self.guard.require(
            self.session, self.ctx, "manage_partnerships", PLATFORM, Target("partnership", None)
        )
        if len(slugs) != 2 or slugs[0] == slugs[1]:
            raise ValidationError("orgs must name two different organizations", field="orgs")
        if not KIND_PATTERN.match(kind):
            raise ValidationError(
                "kind must be 2-40 characters of a-z, 0-9, '_' and '-'", field="kind"
            )
        org_x, org_y = (find_org(self.session, slug) for slug in slugs)
        a, b = sorted((org_x.id, org_y.id))
        existing = self.session.scalar(
            select(Partnership).where(
                Partnership.org_a_id == a, Partnership.org_b_id == b, Partnership.kind == kind
            )
        )
        if existing is not None and existing.status == "active":
            raise ConflictError("these organizations already have this partnership")
        if existing is not None:  # an ended partnership is renewed under its old id
            partnership = existing
            partnership.status, partnership.ended_at = "active", None
        else:
            partnership = Partnership(
                id=self.deps.new_id(),
                org_a_id=a,
                org_b_id=b,
                kind=kind,
                status="active",
                created_at=self.deps.clock.now(),
            )
            self.session.add(partnership)
        try:
            self.session.flush()
        except IntegrityError:  # a concurrent request created it first
            self.session.rollback()
            raise ConflictError("these organizations already have this partnership") from None
        self.commit_with_event(
            AuditRecord(
                "partnership.create",
                "success",
                "partnership",
                partnership.id,
                org_ids=(a, b),
                details={"kind": kind},
            )
        )
        return self._record(partnership)

    def list_visible(self, cursor: str | None, limit: int) -> Page:
        """A page of ``PartnershipRecord``s: operators see every partnership, others those of
        their organization (in SQL)."""
        query = select(Partnership).order_by(Partnership.id).limit(limit + 1)
        if after := decode_cursor(cursor):
            query = query.where(Partnership.id > after)
        if not self.guard.allows(self.ctx, "manage_partnerships", PLATFORM):
            org_id = self.ctx.principal.org_id
            query = query.where(or_(Partnership.org_a_id == org_id, Partnership.org_b_id == org_id))
        page = paginate(list(self.session.scalars(query)), limit)
        return Page(self._records(page.items), page.next_cursor)

    def get(self, partnership_id: str) -> PartnershipRecord:
        partnership = self._load(partnership_id, "read")
        self.guard.require(
            self.session,
            self.ctx,
            "read",
            as_resource(partnership),
            self._target(partnership),
            conceal=True,
        )
        return self._record(partnership)

    def end(self, partnership_id: str) -> PartnershipRecord:
        partnership = self._load(partnership_id, "end")
        resource = as_resource(partnership)
        self.guard.require(
            self.session,
            self.ctx,
            "end",
            resource,
            self._target(partnership),
            conceal=not self.guard.allows(self.ctx, "read", resource),
        )
        if partnership.status != "active":
            raise InvalidStateError("this partnership has already ended")
        partnership.status = "ended"
        partnership.ended_at = self.deps.clock.now()
        self.commit_with_event(
            AuditRecord(
                "partnership.end",
                "success",
                "partnership",
                partnership.id,
                org_ids=resource.org_ids,
            )
        )
        return self._record(partnership)

    def _records(self, partnerships: list[Partnership]) -> list[PartnershipRecord]:
        """Their results, organizations named by slug (read together, in one query at most)."""
        ids = {org_id for p in partnerships for org_id in (p.org_a_id, p.org_b_id)}
        slugs = slugs_of(self.session, ids)
        return [partnership_of(p, slugs) for p in partnerships]

    def _record(self, partnership: Partnership) -> PartnershipRecord:
        (record,) = self._records([partnership])
        return record

    def _load(self, partnership_id: str, action: str) -> Partnership:
        """The partnership, or the same concealed denial as for one the caller may not see."""
        partnership = self.session.get(Partnership, partnership_id)
        if partnership is None:
            self.guard.deny_missing(
                self.session, self.ctx, action, Target("partnership", partnership_id)
            )
        return partnership

    @staticmethod
    def _target(partnership: Partnership) -> Target:
        return Target("partnership", partnership.id, (partnership.org_a_id, partnership.org_b_id))
