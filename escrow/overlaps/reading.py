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
from escrow.guard import Target
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
from escrow.overlaps.results import OverlapCount, OverlapCounts, PopulationName
from escrow.overlaps.sharing import Sharing, capped, configured
from escrow.paging import decode_cursor, decode_number_cursor, encode_cursor
from escrow.partnerships.queries import as_resource as partnership_resource
from escrow.policy.engine import Policy
from escrow.policy.resources import PopulationShare
from escrow.service import Service, ServiceDeps
from storage.models import Dataset, DatasetVersion, Organization, Partnership, Population
from tabular.overlap import Matches, absent, key_index

NO_KEYS = PopulationKeys(key_index(pa.array([], pa.string())), 0)


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
    session: Session, policy: Policy, viewer_id: str, rows: list[tuple[Population, Dataset]]
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


def _counted(cell: Cell) -> OverlapCount:
    mine, theirs = cell.mine.population, cell.theirs.population
    return OverlapCount(
        PopulationName(mine.id, mine.name),
        cell.mine.keys.size,
        PopulationName(theirs.id, theirs.name),
        cell.theirs.sharing.level,
        cell.count,
    )


class OverlapService(Service):
    def __init__(self, deps: ServiceDeps, computer: OverlapComputer, policy: Policy) -> None:
        super().__init__(deps)
        self.computer = computer
        self.policy = policy  # its overlap ceilings lower what owners share

    def counts(self, partner_slug: str) -> OverlapCounts:
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
        return OverlapCounts(partner.slug, tuple(_counted(c) for c in cells))

    def records(
        self, partner_slug: str, mine_id: str, theirs_id: str, cursor: str | None, limit: int
    ) -> tuple[list[Record], str | None]:
        partner, partnership = self._partner(partner_slug, "overlaps.records")
        mine, theirs = self._pair(partner, partnership, mine_id, theirs_id, "overlaps")
        matches = self.computer.shared(mine.keys, theirs.keys)
        start = matches.start_after(decode_cursor(cursor))
        cell = ("records", *mine.keys.cache_key, *theirs.keys.cache_key)
        mine_rows, their_rows = self._rows(
            matches, cell, start, limit, (mine, None, False), (theirs, theirs.sharing.fields, True)
        )
        keys = matches.keys.slice(start, limit).to_pylist()
        more = start + limit < len(matches)
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
        more = start + limit < len(matches)
        cell = ("greenfield", *theirs.keys.cache_key, *(k for m in mine for k in m.keys.cache_key))
        (rows,) = self._rows(matches, cell, start, limit, (theirs, theirs.sharing.fields, False))
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
        levels = levels_toward(self.session, self.policy, me, theirs_rows)
        shown = [
            (population, dataset, sharing)
            for (population, dataset), sharing in zip(theirs_rows, levels, strict=True)
            if sharing.level != "hidden" or reveal_hidden
        ]
        everyone = [(p, d, Sharing("all", ())) for p, d in mine_rows] + shown
        keys, versions = self._keys([(p, d) for p, d, s in everyone if s.level != "hidden"])
        sides = [
            Side(p, d, keys.get(p.id, NO_KEYS), sharing, versions.get(p.id))
            for p, d, sharing in everyone
        ]
        return sides[: len(mine_rows)], sides[len(mine_rows) :]

    def _keys(
        self, rows: list[tuple[Population, Dataset]]
    ) -> tuple[dict[str, PopulationKeys], dict[str, str]]:
        """The key indexes of populations (and the version each came from, by population id):
        of their datasets' latest versions, one read per dataset;
        both organizations' datasets side by side: Arrow's kernels release the GIL, so two
        datasets take about the time of one on two cores."""
        by_dataset: dict[str, tuple[Dataset, DatasetVersion, list[Population]]] = {}
        for population, dataset in rows:
            version = latest_version(self.session, dataset.id)
            if version is not None:
                by_dataset.setdefault(dataset.id, (dataset, version, []))[2].append(population)
        computer = self.computer
        groups = list(by_dataset.values())
        if len(groups) < 2:
            built = [computer.keys_of(*group) for group in groups]
        else:
            with ThreadPoolExecutor(max_workers=2) as pool:
                built = list(pool.map(lambda group: computer.keys_of(*group), groups))
        keys, versions = {}, {}
        for (_, version, populations), indexes in zip(groups, built, strict=True):
            for population, index in zip(populations, indexes, strict=True):
                keys[population.id], versions[population.id] = index, version.id
        return keys, versions

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
        self,
        matches: Matches,
        cell: tuple[str, ...],
        start: int,
        limit: int,
        *wanted: tuple[Side, tuple[str, ...] | None, bool],
    ) -> list[list[dict[str, Any]]]:
        """For each (side, fields (None: all), whether it is ``matches.other``): the fields of
        the rows of matches ``start`` to ``start + limit``. A cell's records are picked in one
        pass over each version (both sides at once: Arrow releases the GIL) and kept."""
        results: list[list[dict[str, Any]]] = [[] for _ in wanted]
        if start >= len(matches):
            return results
        reads = []
        for position, (side, fields, other) in enumerate(wanted):
            version = latest_version(self.session, side.dataset.id)
            names = fields or tuple(f["name"] for f in (side.dataset.schema or {})["fields"])
            index = matches.other if other else matches.index
            if version is not None and index is not None:
                key = (*cell, str(position), *names)
                reads.append((position, side.dataset, version, names, index, key))
        computer = self.computer

        def pick(read: tuple[Any, ...]) -> pa.Table:
            _, dataset, version, names, index, key = read
            return computer.matched(
                dataset, version, names, lambda: index.first_rows(matches.keys), key
            )

        with ThreadPoolExecutor(max_workers=2) as pool:
            tables = list(pool.map(pick, reads))
        for read, table in zip(reads, tables, strict=True):
            results[read[0]] = table.slice(start, limit).to_pylist()
        return results

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
