"""``overlaps.changed``: tell an organization when a partner's new deposit changed a count it
can see.

A scheduled job (once a minute) computes, for each side of every active partnership between
active organizations, the cells that side may see (level ``counts`` or more). Per cell it
keeps the keyed digest of the count and the partner's version it was computed on
(``overlap_notices``; never the count itself). When the partner's version is new and the
count's digest differs, it appends an ``overlaps.changed`` audit event for the viewer, from
which the webhook event follows in the same transaction. A cell seen for the first time is
only recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from escrow.audit.log import AuditLog, AuditRecord
from escrow.clock import Clock
from escrow.context import RequestContext
from escrow.overlaps.compute import OverlapComputer, PopulationKeys
from escrow.overlaps.queries import latest_version, live_populations
from escrow.overlaps.reading import levels_toward
from escrow.policy.engine import Policy
from storage.db import Database
from storage.models import Dataset, Organization, OverlapNotice, Partnership, Population

log = logging.getLogger("escrow.overlaps")
CHANGED = "overlaps.changed"
INTERVAL_SECONDS = 60


@dataclass(frozen=True)
class OverlapNotices:
    """The job's collaborators: counts come from ``computer`` under ``policy``'s ceilings,
    and only their keyed digests (``keyed_digest``) are kept."""

    db: Database
    computer: OverlapComputer
    policy: Policy
    audit: AuditLog
    clock: Clock
    keyed_digest: Callable[[bytes], str]

    def run(self) -> int:
        """One pass over every partnership; returns the number of changes announced."""
        announced = 0
        with self.db.session() as session:
            for viewer, partner in _active_sides(session):
                announced += _side(self, session, viewer, partner)
            session.commit()
        return announced


def _active_sides(session: Session) -> list[tuple[str, str]]:
    a, b = aliased(Organization), aliased(Organization)
    pairs = session.execute(
        select(Partnership.org_a_id, Partnership.org_b_id)
        .join(a, a.id == Partnership.org_a_id)
        .join(b, b.id == Partnership.org_b_id)
        .where(Partnership.status == "active", a.status == "active", b.status == "active")
        .distinct()
    )
    return [side for x, y in pairs for side in ((x, y), (y, x))]


def _side(job: OverlapNotices, session: Session, viewer: str, partner: str) -> int:
    computer = job.computer
    theirs_rows = live_populations(session, partner)
    levels = levels_toward(session, job.policy, viewer, theirs_rows)
    visible = [row for row, s in zip(theirs_rows, levels, strict=True) if s.level != "hidden"]
    mine = [(p, _keys(computer, session, p, d)) for p, d in live_populations(session, viewer)]
    announced = 0
    for population, dataset in visible:
        version = latest_version(session, dataset.id)
        if version is None:
            continue
        theirs_keys = computer.keys(population, dataset, version)
        for my_population, my_keys in mine:
            if my_keys is None:
                continue
            count = computer.count(my_keys, theirs_keys)
            digest = job.keyed_digest(f"overlap-count:{count}".encode())
            key = (viewer, my_population.id, population.id)
            notice = session.get(OverlapNotice, key)
            now = job.clock.now()
            if notice is None:
                session.add(
                    OverlapNotice(
                        viewer_org_id=viewer,
                        mine_id=my_population.id,
                        theirs_id=population.id,
                        count_digest=digest,
                        theirs_version_id=version.id,
                        updated_at=now,
                    )
                )
                continue
            if notice.theirs_version_id == version.id:
                continue
            changed = notice.count_digest != digest
            notice.count_digest, notice.theirs_version_id, notice.updated_at = (
                digest,
                version.id,
                now,
            )
            if changed:
                _announce(job.audit, session, viewer, partner, my_population, population)
                announced += 1
    return announced


def _keys(
    computer: OverlapComputer, session: Session, population: Population, dataset: Dataset
) -> PopulationKeys | None:
    version = latest_version(session, dataset.id)
    return None if version is None else computer.keys(population, dataset, version)


def _announce(
    audit: AuditLog,
    session: Session,
    viewer: str,
    partner: str,
    mine: Population,
    theirs: Population,
) -> None:
    audit.append(
        session,
        RequestContext(request_id="overlap-notices"),
        AuditRecord(
            CHANGED,
            "success",
            "population",
            theirs.id,
            org_ids=(viewer,),
            details={"viewer": viewer, "partner": partner, "mine": mine.id, "theirs": theirs.id},
        ),
    )
