"""List endpoints filter in SQL; on a random corpus they return exactly what the policy allows."""

from __future__ import annotations

import random
from functools import partial

from sqlalchemy import select

from escrow.components import Components
from escrow.context import Actor, RequestContext
from escrow.orgs.queries import as_resource
from escrow.orgs.service import OrgService
from escrow.partnerships.queries import as_resource as partnership_resource
from escrow.partnerships.service import PartnershipService
from storage.models import Organization, Partnership
from tests.fixtures.api import Ecosystem

ROLE_SETS = [("admin",), ("steward",), ("member",), ("auditor",), ("member", "auditor")]


def _everything(components: Components, actor: Actor, service_cls, limit: int = 7) -> list[str]:
    """Walk every page of a list as ``actor``."""
    ids: list[str] = []
    cursor = None
    with components.db.session() as session:
        deps = components.shared.bind(session, RequestContext("test", actor))
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


def test_dataset_and_agreement_lists_equal_the_policy_on_a_random_corpus(
    eco: Ecosystem, components: Components
) -> None:
    from datetime import timedelta

    from escrow.agreements.queries import as_resource as agreement_resource
    from escrow.agreements.terms import parties_of
    from escrow.datasets.queries import as_resource as dataset_resource
    from escrow.datasets.service import DatasetService
    from escrow.wiring import agreement_service
    from storage.models import Agreement, Dataset

    rng = random.Random(7)
    slugs = [f"org-{i}" for i in range(6)]
    for slug in slugs:
        eco.org(slug)
    for a, b in {tuple(sorted(rng.sample(slugs, 2))) for _ in range(8)}:
        eco.partnership(a, b)
    now = components.clock.now()
    with components.db.session() as session:
        orgs = {o.slug: o for o in session.scalars(select(Organization))}
        datasets = []
        for i in range(25):
            owner = orgs[rng.choice(slugs)]
            datasets.append(
                Dataset(
                    id=components.new_id(),
                    owner_org_id=owner.id,
                    name=f"d{i}",
                    description="",
                    labels=[],
                    media_type="text/csv",
                    schema=None,
                    status=rng.choice(["active", "active", "withdrawn", "shredded"]),
                    version_count=0,
                    created_by="x",
                    created_at=now,
                    updated_at=now,
                )
            )
        session.add_all(datasets)
        session.flush()
        for _ in range(60):
            dataset = rng.choice(datasets)
            beneficiary = orgs[rng.choice([s for s in slugs if orgs[s].id != dataset.owner_org_id])]
            state = rng.choice(["pending", "released", "revoked", "expired", "rejected"])
            expires = now + timedelta(days=rng.choice([-1, 1, 30])) if rng.random() < 0.5 else None
            third = rng.choice(slugs)
            approvers = rng.sample(
                [
                    "owner:steward",
                    "beneficiary:admin",
                    "operator",
                    f"org:{third}:member",
                    f"org:{third}:steward",
                ],
                2,
            )
            attester = orgs[rng.choice(slugs)].id if rng.random() < 0.3 else None
            agreement = Agreement(
                id=components.new_id(),
                dataset_id=dataset.id,
                owner_org_id=dataset.owner_org_id,
                beneficiary_org_id=beneficiary.id,
                purpose="p",
                required_approvals=5,
                approvers=sorted(approvers),
                not_before=None,
                expires_at=expires if state != "pending" else None,
                objection_seconds=None,
                attestation_event="insolvency" if attester else None,
                attestation_org_id=attester,
                view=None,
                state=state,
                created_by="x",
                created_at=now,
                updated_at=now,
                released_at=now if state == "released" else None,
            )
            session.add(agreement)
            session.flush()
            session.add_all(parties_of(session, agreement))
        session.commit()
    actors = [
        Actor(id=f"p-{slug}-{'-'.join(roles)}", org_id=orgs[slug].id, org_slug=slug, roles=roles)
        for slug in slugs
        for roles in ROLE_SETS
    ]
    engine = components.policy
    for actor in actors:
        listed_datasets = _everything(components, actor, DatasetService)
        listed_agreements = _everything(components, actor, partial(agreement_service, components))
        with components.db.session() as session:
            now = components.clock.now()
            expected_datasets = sorted(
                d.id
                for d in session.scalars(select(Dataset))
                if engine.decide(actor, "read", dataset_resource(session, d, now)).allowed
            )
            expected_agreements = sorted(
                a.id
                for a in session.scalars(select(Agreement))
                if engine.decide(actor, "read", agreement_resource(session, a, now)).allowed
            )
        assert listed_datasets == expected_datasets, actor
        assert listed_agreements == expected_agreements, actor
