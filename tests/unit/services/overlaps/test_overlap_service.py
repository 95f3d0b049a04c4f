"""Overlap use cases through the service layer (no HTTP), on lists deposited by real partners."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from escrow.context import Actor, RequestContext
from escrow.errors import ForbiddenError, NotFoundError
from escrow.overlaps.service import UNSET, PopulationService
from escrow.service import ServiceDeps
from escrow.wiring import disclosure_service, overlap_service
from storage.models import AuditEvent, Organization, Principal
from tabular.normalize import normalize_value
from tests.api.overlaps.conftest import Crms, crms
from tests.fixtures.api import Caller
from tests.fixtures.datasets import deposit

__all__ = ["crms"]  # the HTTP-built partners these service tests start from


@contextmanager
def deps_of(components, caller: Caller) -> Iterator[ServiceDeps]:
    with components.db.session() as session:
        principal = session.get(Principal, caller.id)
        org = session.get(Organization, principal.org_id)
        actor = Actor(
            principal.id, org.id, org.slug, tuple(principal.roles), org.status == "active"
        )
        yield components.shared.bind(session, RequestContext("test", actor))


def _domains(rng: random.Random, pool: list[str], n: int) -> list[str]:
    spellings = ["{}", "https://www.{}/x", "{}.", "WWW.{}", "info@{}", " {} "]
    return [rng.choice(spellings).format(rng.choice(pool)) for _ in range(n)]


def test_counts_equal_the_reference_intersection_of_the_latest_versions(crms: Crms, components):
    rng = random.Random(7)
    pool = [f"site{i}.example" for i in range(300)]
    mine, theirs = _domains(rng, pool, 400), _domains(rng, pool, 400)
    acme_csv = "domain,name,stage,owner\n" + "".join(f"{d},n,customer,o\n" for d in mine)
    globex_csv = "website,company,status,rep\n" + "".join(f"{d},c,customer,r\n" for d in theirs)
    assert deposit(crms.acme, crms.acme_dataset, acme_csv.encode()).status_code == 201
    assert deposit(crms.globex, crms.globex_dataset, globex_csv.encode()).status_code == 201
    expected = {normalize_value(d, "domain") for d in mine} & {
        normalize_value(d, "domain") for d in theirs
    }
    with deps_of(components, crms.acme) as deps:
        found = overlap_service(components, deps).counts("globex")
    counts = {(c.mine.name, c.theirs.name): c.count for c in found.cells}
    assert found.partner == "globex"
    assert counts[("customers", "customers")] == len(expected - {None})


def test_only_match_and_predicate_changes_start_a_new_revision(crms: Crms, components):
    with deps_of(components, crms.acme) as deps:
        service = PopulationService(deps)
        start = service.get(crms.acme_customers).revision
        changes = {"name": "clients", "match": UNSET, "where": UNSET, "sharing": ("all", ["name"])}
        assert service.update(crms.acme_customers, changes).revision == start
        changes = {"name": UNSET, "match": ("name", "text"), "where": UNSET, "sharing": UNSET}
        assert service.update(crms.acme_customers, changes).revision == start + 1


def test_reads_below_the_level_are_refused_and_unknown_populations_concealed(
    crms: Crms, components
):
    with deps_of(components, crms.acme) as deps:
        service = overlap_service(components, deps)
        with pytest.raises(ForbiddenError):
            service.records("globex", crms.acme_customers, crms.globex_customers, None, 10)
        with pytest.raises(NotFoundError):
            service.records("globex", crms.acme_customers, crms.acme_prospects, None, 10)
        with pytest.raises(NotFoundError):
            service.counts("initech")


def test_shredding_drops_every_cached_result_of_the_dataset(crms: Crms, components):
    with deps_of(components, crms.acme) as deps:
        overlap_service(components, deps).counts("globex")
    cached = [k for entries in components.overlaps.cache._entries.values() for k in entries]
    assert any(crms.globex_dataset in key for key in cached)
    assert crms.globex_admin.delete(f"/v1/datasets/{crms.globex_dataset}").status_code == 200
    cached = [k for entries in components.overlaps.cache._entries.values() for k in entries]
    assert not any(crms.globex_dataset in key for key in cached)


def test_the_ledger_names_the_audit_events_it_sums(crms: Crms, components):
    with deps_of(components, crms.acme) as deps:
        overlap_service(components, deps).counts("globex")
    with deps_of(components, crms.globex) as deps:
        lines = disclosure_service(components, deps).ledger("acme", "month")
        actions = set(
            deps.session.scalars(
                select(AuditEvent.action).where(AuditEvent.seq.in_(lines[0].events))
            )
        )
    assert {line.population_name for line in lines} == {"customers", "opportunities"}
    assert actions == {"overlaps.counts"}
    assert all(line.reads == 2 and len(line.period) == 7 for line in lines)
