"""Overlap reads: counts, overlapping records and greenfield, each audited in both orgs' scope.

Every read names what it revealed (counts, record numbers, field names; never values) in an
``overlaps.*`` audit event whose organizations are the reader's and the partner's, which
is what the disclosure ledger (``disclosures.py``) is made of.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session

from escrow.audit.log import AuditRecord
from escrow.datasets.queries import as_resource as dataset_resource
from escrow.errors import ForbiddenError, NotFoundError
from escrow.orgs.queries import as_resource as org_resource
from escrow.orgs.queries import org_by_id
from escrow.overlaps.compute import OverlapComputer, PopulationKeys
from escrow.overlaps.queries import (
    active_partnership,
    latest_version,
    live_populations,
    org_by_slug,
    overrides_of,
)
from escrow.overlaps.sharing import Sharing, capped, configured
from escrow.partnerships.service import as_resource as partnership_resource
from escrow.policy.guard import Target
from escrow.policy.resources import PopulationShare
from escrow.service import Service, decode_cursor, decode_number_cursor, encode_cursor
from storage.models import Dataset, DatasetVersion, Organization, Partnership, Population
from tabular.overlap import Matches, absent, key_index

EMPTY = key_index(pa.array([], pa.string()))


@dataclass(frozen=True)
class Side:
    """One population as the read sees it: its keys and, for theirs, the level toward me."""

    population: Population
    dataset: Dataset
    keys: PopulationKeys
    sharing: Sharing
    version_id: str | None


@dataclass(frozen=True)
class Cell:
    mine: Side
    theirs: Side
    count: int


@dataclass(frozen=True)
class Record:
    key: str | None
    mine: dict[str, Any] | None
    theirs: dict[str, Any]


def levels_toward(
    session: Session, policy: Any, viewer_id: str, rows: list[tuple[Population, Dataset]]
) -> list[Sharing]:
    """What each of a partner's populations reveals to ``viewer_id``: the owner's setting
    for it, lowered by the policy's overlap ceilings."""
    if not rows:
        return []
    overrides = overrides_of(session, [p.id for p, _ in rows])
    viewer = org_resource(session, org_by_id(session, viewer_id))
    partnership = active_partnership(session, viewer_id, rows[0][0].org_id)
    kind = partnership.kind if partnership else "-"
    levels = []
    for population, dataset in rows:
        share = PopulationShare(dataset_resource(session, dataset), viewer, kind)
        ceiling = policy.overlap_ceiling(share)
        levels.append(
            capped(configured(population, overrides[population.id].get(viewer_id)), ceiling)
        )
    return levels


class OverlapService(Service):
    @property
    def computer(self) -> OverlapComputer:
        return OverlapComputer(self.deps.components, self.deps.components.overlap_cache)

    def counts(self, partner_slug: str) -> tuple[Organization, list[Cell]]:
        partner, partnership = self._partner(partner_slug, "overlaps.counts")
        mine, theirs = self._sides(partner)
        cells = [Cell(m, t, self.computer.count(m.keys, t.keys)) for m in mine for t in theirs]
        disclosed = [
            {
                "mine": c.mine.population.id,
                "theirs": c.theirs.population.id,
                "level": c.theirs.sharing.level,
                "count": c.count,
                "fields": [],
            }
            for c in cells
        ]
        self._audit("overlaps.counts", partnership, partner, disclosed)
        return partner, cells

    def records(
        self, partner_slug: str, mine_id: str, theirs_id: str, cursor: str | None, limit: int
    ) -> tuple[list[Record], str | None]:
        partner, partnership = self._partner(partner_slug, "overlaps.records")
        mine, theirs = self._pair(partner, partnership, mine_id, theirs_id, "overlaps")
        matches = self.computer.shared(mine.keys, theirs.keys)
        page = matches.after(decode_cursor(cursor), limit)
        more = len(page) == limit and page.keys[-1].as_py() != matches.keys[-1].as_py()
        mine_rows = self._rows(mine, page.rows, None)
        their_rows = self._rows(theirs, page.other_rows, theirs.sharing.fields)
        keys = page.keys.to_pylist()
        items = [Record(k, m, t) for k, m, t in zip(keys, mine_rows, their_rows, strict=True)]
        self._audit_rows("overlaps.records", partnership, partner, mine, theirs, len(items))
        return items, encode_cursor(keys[-1]) if more and keys else None

    def greenfield(
        self, partner_slug: str, theirs_id: str, cursor: str | None, limit: int
    ) -> tuple[list[Record], str | None]:
        partner, partnership = self._partner(partner_slug, "overlaps.greenfield")
        mine, theirs_sides = self._sides(partner, reveal_hidden=True)
        theirs = next((t for t in theirs_sides if t.population.id == theirs_id), None)
        self._require_level(partnership, partner, theirs, theirs_id, "all", "overlaps.greenfield")
        assert theirs is not None  # noqa: S101 - _require_level raised otherwise
        matches: Matches = absent(theirs.keys.index, [m.keys.index for m in mine])
        start = decode_number_cursor(cursor) or 0
        page = matches.page(start, limit)
        more = start + limit < len(matches)
        rows = self._rows(theirs, page.rows, theirs.sharing.fields)
        self._audit_rows("overlaps.greenfield", partnership, partner, None, theirs, len(rows))
        return [Record(None, None, r) for r in rows], encode_cursor(
            str(start + limit)
        ) if more else None

    # ------------------------------------------------------------------ internals

    def _partner(self, slug: str, action: str) -> tuple[Organization, Partnership]:
        """The partner across an active partnership the policy lets the caller read overlaps
        over. Fails closed: not a partner, ended, suspended or denied all look alike (404)."""
        me = self.ctx.principal.org_id
        org = org_by_slug(self.session, slug)
        partnership = (
            None if org is None or org.id == me else active_partnership(self.session, me, org.id)
        )
        if org is None or partnership is None:
            self._deny(action, None, (me,))
            raise NotFoundError(f"{slug!r} is not a partner of your organization")
        self.guard.require(
            self.session,
            self.ctx,
            "read_overlaps",
            partnership_resource(partnership, self.session),
            Target("partnership", partnership.id, (me, org.id)),
            conceal=True,
        )
        return org, partnership

    def _sides(
        self, partner: Organization, reveal_hidden: bool = False
    ) -> tuple[list[Side], list[Side]]:
        me = self.ctx.principal.org_id
        mine_rows = live_populations(self.session, me)
        theirs_rows = live_populations(self.session, partner.id)
        self._prefetch(mine_rows + theirs_rows)
        mine = [self._side(p, d, Sharing("all", ())) for p, d in mine_rows]
        levels = levels_toward(self.session, self.deps.components.policy, me, theirs_rows)
        theirs = [
            self._side(population, dataset, sharing)
            for (population, dataset), sharing in zip(theirs_rows, levels, strict=True)
            if sharing.level != "hidden" or reveal_hidden
        ]
        return mine, theirs

    def _side(self, population: Population, dataset: Dataset, sharing: Sharing) -> Side:
        version = latest_version(self.session, dataset.id)
        if version is None or sharing.level == "hidden":
            return Side(population, dataset, PopulationKeys(EMPTY, 0), sharing, None)
        keys = self.computer.keys(population, dataset, version)
        return Side(population, dataset, keys, sharing, version.id)

    def _prefetch(self, rows: list[tuple[Population, Dataset]]) -> None:
        """Computes the key indexes of both organizations' datasets side by side: Arrow's
        kernels release the GIL, so two datasets take about the time of one on two cores."""
        work = []
        for population, dataset in rows:
            version = latest_version(self.session, dataset.id)
            if version is not None:
                work.append((population, dataset, version))
        by_dataset: dict[str, list[tuple[Population, Dataset, DatasetVersion]]] = {}
        for item in work:
            by_dataset.setdefault(item[1].id, []).append(item)
        if len(by_dataset) < 2:
            return
        with ThreadPoolExecutor(max_workers=2) as pool:
            jobs = [
                pool.submit(lambda items: [self.computer.keys(*item) for item in items], items)
                for items in by_dataset.values()
            ]
            for job in jobs:
                job.result()

    def _pair(
        self,
        partner: Organization,
        partnership: Partnership,
        mine_id: str,
        theirs_id: str,
        level: str,
    ) -> tuple[Side, Side]:
        mine_sides, theirs_sides = self._sides(partner, reveal_hidden=True)
        mine = next((m for m in mine_sides if m.population.id == mine_id), None)
        theirs = next((t for t in theirs_sides if t.population.id == theirs_id), None)
        if mine is None:
            self._deny("overlaps.records", partnership.id, (self.ctx.principal.org_id, partner.id))
            raise NotFoundError(f"no population {mine_id!r} of your organization")
        self._require_level(partnership, partner, theirs, theirs_id, level, "overlaps.records")
        assert theirs is not None  # noqa: S101 - _require_level raised otherwise
        return mine, theirs

    def _require_level(
        self,
        partnership: Partnership,
        partner: Organization,
        theirs: Side | None,
        theirs_id: str,
        level: str,
        action: str,
    ) -> None:
        """404 when hidden or unknown (their names stay unknown), 403 below ``level``."""
        orgs = (self.ctx.principal.org_id, partner.id)
        if theirs is None or theirs.sharing.level == "hidden":
            self._deny(action, partnership.id, orgs)
            raise NotFoundError(f"no population {theirs_id!r} shared by {partner.slug!r}")
        if not theirs.sharing.at_least(level):
            self._deny(action, partnership.id, orgs, reason="sharing_level")
            raise ForbiddenError(
                f"{partner.slug!r} shares this population at level {theirs.sharing.level!r}; "
                f"this read needs {level!r}"
            )

    def _rows(
        self, side: Side, rows: pa.Array, fields: tuple[str, ...] | None
    ) -> list[dict[str, Any]]:
        version = latest_version(self.session, side.dataset.id)
        if version is None or not len(rows):
            return []
        table = self.computer.table(side.dataset, version)
        picked = table.take(rows)
        if fields is not None:
            picked = picked.select(list(fields))
        result: list[dict[str, Any]] = picked.to_pylist()
        return result

    def _deny(
        self, action: str, resource_id: str | None, orgs: tuple[str, ...], reason: str = "not_found"
    ) -> None:
        self.session.rollback()
        self.deps.audit.append(
            self.session,
            self.ctx,
            AuditRecord(action, "denied", "partnership", resource_id, reason=reason, org_ids=orgs),
        )
        self.session.commit()

    def _audit(
        self,
        action: str,
        partnership: Partnership,
        partner: Organization,
        disclosed: list[dict[str, Any]],
    ) -> None:
        self.commit_with_event(
            AuditRecord(
                action,
                "success",
                "partnership",
                partnership.id,
                org_ids=(self.ctx.principal.org_id, partner.id),
                details={"partner": partner.id, "disclosed": disclosed},
            )
        )

    def _audit_rows(
        self,
        action: str,
        partnership: Partnership,
        partner: Organization,
        mine: Side | None,
        theirs: Side,
        records: int,
    ) -> None:
        disclosed = [
            {
                "mine": mine.population.id if mine else None,
                "theirs": theirs.population.id,
                "level": theirs.sharing.level,
                "records": records,
                "fields": list(theirs.sharing.fields),
            }
        ]
        self._audit(action, partnership, partner, disclosed)
