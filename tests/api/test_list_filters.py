"""List endpoints filter in SQL; on a random corpus they return exactly what the policy allows."""

from __future__ import annotations

import random

from sqlalchemy import select

from escrow.context import RequestContext
from escrow.orgs.queries import as_resource
from escrow.orgs.service import OrgService
from escrow.partnerships.service import PartnershipService
from escrow.partnerships.service import as_resource as partnership_resource
from escrow.policy.resources import Actor
from escrow.service import ServiceDeps
from escrow.wiring import Components
from storage.models import Organization, Partnership
from tests.fixtures.api import Ecosystem

ROLE_SETS = [("admin",), ("steward",), ("member",), ("auditor",), ("member", "auditor")]


def _everything(components: Components, actor: Actor, service_cls, limit: int = 7) -> list[str]:
    """Walk every page of a list as ``actor``."""
    ids: list[str] = []
    cursor = None
    with components.db.session() as session:
        deps = ServiceDeps(
            session,
            RequestContext("test", actor),
            components.guard,
            components.audit,
            components.clock,
            components.new_id,
        )
        while True:
            page = service_cls(deps).list_visible(cursor, limit)
            ids += [item.id for item in page.items]
            if page.next_cursor is None:
                return ids
            cursor = page.next_cursor


def test_org_and_partnership_lists_equal_the_policy_on_a_random_corpus(
    eco: Ecosystem, operator, components: Components
) -> None:
    rng = random.Random(20261123)
    slugs = [f"org-{i:02d}" for i in range(12)]
    for slug in slugs:
        eco.org(slug, rng.choice(["strategic", "core", "complementary", "ancillary"]))
    pairs = {tuple(sorted(rng.sample(slugs, 2))) for _ in range(18)}
    created = [eco.partnership(a, b, rng.choice(["supplier", "reseller"])) for a, b in pairs]
    for partnership in rng.sample(created, 5):
        operator.post(f"/v1/partnerships/{partnership['id']}/end")
    for slug in rng.sample(slugs, 3):
        operator.post(f"/v1/orgs/{slug}/suspend")

    with components.db.session() as session:
        orgs = list(session.scalars(select(Organization)))
        partnerships = list(session.scalars(select(Partnership)))
        org_resources = {o.id: as_resource(session, o) for o in orgs}
    actors = [
        Actor(id=f"p-{o.slug}-{'-'.join(roles)}", org_id=o.id, org_slug=o.slug, roles=roles)
        for o in orgs
        for roles in ROLE_SETS
    ]
    platform_id = next(o.id for o in orgs if o.slug == "platform")
    actors.append(Actor(operator.id, platform_id, "platform", ("admin", "operator")))
    engine = components.policy
    for actor in actors:
        expected_orgs = sorted(
            o.id for o in orgs if engine.decide(actor, "read", org_resources[o.id]).allowed
        )
        assert _everything(components, actor, OrgService) == expected_orgs, actor
        expected_partnerships = sorted(
            p.id
            for p in partnerships
            if engine.decide(actor, "read", partnership_resource(p)).allowed
        )
        assert _everything(components, actor, PartnershipService) == expected_partnerships
