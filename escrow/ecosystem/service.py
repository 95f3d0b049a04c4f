"""The activity report: the whole ecosystem for operators, one organization for its admins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escrow.audit.log import AuditRecord
from escrow.audit.trail import AuditTrail
from escrow.ecosystem.figures import Report, measure
from escrow.ecosystem.periods import Period, Window
from escrow.errors import ValidationError
from escrow.guard import Target
from escrow.orgs.queries import as_resource, find_org_or_none, slugs_of
from escrow.policy.resources import PLATFORM
from escrow.service import Service, ServiceDeps
from storage.models import Organization

RESOURCE_TYPE = "ecosystem_metrics"


@dataclass(frozen=True)
class ReportRead:
    report: Report
    org: str | None  # slug; None: the whole ecosystem
    slugs: dict[str, str]  # organization id -> slug, for every organization in the report
    generated_at: datetime


class EcosystemService(Service):
    def __init__(self, deps: ServiceDeps, trail: AuditTrail) -> None:
        super().__init__(deps)
        self.trail = trail  # interactions are counted from integrated events

    def report(
        self, org: str | None, start: datetime | None, end: datetime | None, period: Period
    ) -> ReportRead:
        """Operators read the ecosystem (or, with ``org``, one organization); an
        organization's admins read their own. The read is audited, as it discloses partners'
        activity in aggregate."""
        now = self.deps.clock.now()
        window = Window.of(start, end, period, now)
        target = self._readable_scope(org)
        org_id = target.id if target else None
        self.trail.catch_up(self.session)  # the latest actions included
        report = measure(self.session, window, org_id, now)
        slugs = slugs_of(self.session, set(report.partners))
        self.commit_with_event(
            AuditRecord(
                "ecosystem.metrics.read",
                "success",
                RESOURCE_TYPE,
                org_id,
                org_ids=(org_id,) if org_id else (),
                details={
                    "from": window.start.isoformat(),
                    "to": window.end.isoformat(),
                    "period": window.period,
                },
            )
        )
        return ReportRead(report, target.slug if target else None, slugs, now)

    def _readable_scope(self, org: str | None) -> Organization | None:
        """Fails closed: the organization reported on (None: all of them). Denials are
        audited; an organization the caller may not even see answers 404."""
        if org is None:
            if self.guard.allows(self.ctx, "read_metrics", PLATFORM):
                return None
            target = self.session.get(Organization, self.ctx.principal.org_id)
            if target is None:  # pragma: no cover - authentication loaded this org
                raise ValidationError("caller has no organization")
        else:
            found = find_org_or_none(self.session, org)
            if found is None:
                self.guard.deny_missing(
                    self.session, self.ctx, "read_metrics", Target(RESOURCE_TYPE, None, named=org)
                )
            target = found
        resource = as_resource(self.session, target)
        self.guard.require(
            self.session,
            self.ctx,
            "read_metrics",
            resource,
            Target(RESOURCE_TYPE, target.id, (target.id,), named=org),
            conceal=not self.guard.allows(self.ctx, "read", resource),
        )
        return target
