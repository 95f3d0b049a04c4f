"""The disclosure ledger: what a partner has been shown of an organization's data.

Read from the audit trail itself (the ``overlaps.*`` events the partner's reads wrote), so
every line names the events it sums, each provable with ``GET /v1/audit/proofs/inclusion``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from escrow.audit.log import AuditRecord
from escrow.audit.trail import AuditTrail
from escrow.errors import NotFoundError, ValidationError
from escrow.guard import Target
from escrow.orgs.queries import as_resource as org_resource
from escrow.orgs.queries import org_by_id
from escrow.overlaps.queries import any_partnership, org_by_slug
from escrow.service import Service, ServiceDeps
from storage.models import AuditEvent, AuditEventOrg, Population

READ_ACTIONS = ("overlaps.counts", "overlaps.records", "overlaps.greenfield")
PERIODS = {"day": 10, "month": 7}  # length of the ISO date prefix that names the period
MAX_EVENTS = 10_000


@dataclass
class Disclosure:
    population_id: str
    population_name: str
    period: str
    reads: int = 0
    counts: set[int] = field(default_factory=set)
    records: int = 0
    fields: set[str] = field(default_factory=set)
    events: list[int] = field(default_factory=list)


class DisclosureService(Service):
    def __init__(self, deps: ServiceDeps, trail: AuditTrail) -> None:
        super().__init__(deps)
        self.trail = trail  # the ledger is read from integrated events

    def ledger(self, partner_slug: str, period: str) -> list[Disclosure]:
        """Fails closed: only members of the organization read its ledger."""
        if period not in PERIODS:
            raise ValidationError("period is day or month", field="period")
        me = self.ctx.principal.org_id
        self.guard.require(
            self.session,
            self.ctx,
            "read",
            org_resource(self.session, org_by_id(self.session, me)),
            Target("organization", me, (me,)),
        )
        partner = org_by_slug(self.session, partner_slug)
        if (
            partner is None
            or partner.id == me
            or any_partnership(self.session, me, partner.id) is None
        ):
            raise NotFoundError(f"{partner_slug!r} is not a partner of your organization")
        self.trail.catch_up(self.session)  # the partner's latest reads included
        lines = self._lines(self._reads(me, partner.id), self._population_names(me), period)
        self.commit_with_event(
            AuditRecord(
                "overlaps.disclosures.read",
                "success",
                "organization",
                me,
                org_ids=(me,),
                details={"partner": partner.id},
            )
        )
        return sorted(lines, key=lambda d: (d.period, d.population_name))

    def _reads(self, me: str, partner_id: str) -> Iterable[tuple[int, str]]:
        """(index, entry) of the partner's successful overlap reads that touched us."""
        return self.session.execute(
            select(AuditEvent.seq, AuditEvent.entry)
            .join(AuditEventOrg, AuditEventOrg.seq == AuditEvent.seq)
            .where(
                AuditEventOrg.org_id == me,
                AuditEvent.actor_org_id == partner_id,
                AuditEvent.action.in_(READ_ACTIONS),
                AuditEvent.outcome == "success",
            )
            .order_by(AuditEvent.seq)
            .limit(MAX_EVENTS)
        ).tuples()

    def _population_names(self, me: str) -> dict[str, str]:
        rows = self.session.execute(
            select(Population.id, Population.name).where(Population.org_id == me)
        )
        return {population_id: name for population_id, name in rows}

    @staticmethod
    def _lines(
        reads: Iterable[tuple[int, str]], names: dict[str, str], period: str
    ) -> list[Disclosure]:
        """One line per population and period: reads, counts, records and fields disclosed."""
        lines: dict[tuple[str, str], Disclosure] = {}
        for seq, entry in reads:
            event = json.loads(entry)
            when = str(event.get("time", ""))[: PERIODS[period]]
            for item in event.get("details", {}).get("disclosed", []):
                population = item.get("theirs")
                if not isinstance(population, str):
                    continue
                # Every population a partner's read disclosed is ours; one since deleted
                # keeps its lines.
                name = names.get(population, "(deleted)")
                line = lines.setdefault((population, when), Disclosure(population, name, when))
                line.reads += 1
                if "count" in item:
                    line.counts.add(int(item["count"]))
                line.records += int(item.get("records", 0))
                line.fields.update(item.get("fields", []))
                line.events.append(seq)
        return list(lines.values())
