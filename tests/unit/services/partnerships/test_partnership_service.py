"""Partnership use cases through the service layer (no HTTP): operators link and unlink
organizations; members of either side read theirs; nobody else learns they exist."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from escrow.components import Components
from escrow.errors import (
    ConflictError,
    ForbiddenError,
    InvalidStateError,
    NotFoundError,
    ValidationError,
)
from escrow.orgs.queries import active_partnership_exists, find_org
from escrow.partnerships.results import PartnershipRecord
from escrow.partnerships.service import PartnershipService
from storage.models import Partnership
from tests.fixtures.api import Ecosystem
from tests.unit.services.acting import acting_as, denials_of, events_of


class Orgs:
    """Acme and Globex, not yet partners, each with an admin; Initech, a third."""

    def __init__(self, eco: Ecosystem, components: Components) -> None:
        for slug in ("acme", "globex", "initech"):
            eco.org(slug)
        self.components = components
        self.operator = eco.operator.id
        self.acme_admin = eco.admin_of("acme").id
        self.globex_member = eco.principal("globex", "member").id
        self.outsider = eco.admin_of("initech").id

    def link(self, request_id: str = "link", *slugs: str) -> PartnershipRecord:
        with acting_as(self.components, self.operator, request_id) as deps:
            return PartnershipService(deps).create(list(slugs or ("acme", "globex")), "supplier")

    def active(self, a: str, b: str) -> bool:
        with self.components.db.session() as session:
            x, y = find_org(session, a), find_org(session, b)
            return active_partnership_exists(session, x.id, y.id)


@pytest.fixture
def orgs(eco: Ecosystem, components: Components) -> Orgs:
    return Orgs(eco, components)


def test_an_operator_links_two_orgs_and_the_link_is_audited_for_both(orgs: Orgs) -> None:
    partnership = orgs.link()
    assert partnership.status == "active" and orgs.active("acme", "globex")
    assert partnership.orgs == ("acme", "globex")
    assert not orgs.active("acme", "initech")
    assert events_of(orgs.components, "link") == [("partnership.create", "success")]
    with acting_as(orgs.components, orgs.globex_member, "read") as deps:
        assert PartnershipService(deps).get(partnership.id).id == partnership.id


def test_a_partnership_joins_two_different_existing_orgs_once(orgs: Orgs) -> None:
    with pytest.raises(ValidationError):
        orgs.link("self", "acme", "acme")
    with pytest.raises(NotFoundError):
        orgs.link("nobody", "acme", "no-such-org")
    orgs.link()
    with pytest.raises(ConflictError):
        orgs.link("again")
    with orgs.components.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Partnership)) == 1
    assert events_of(orgs.components, "self") == events_of(orgs.components, "again") == []


def test_only_operators_link_and_an_admins_attempt_is_audited(orgs: Orgs) -> None:
    with (
        acting_as(orgs.components, orgs.acme_admin, "self-serve") as deps,
        pytest.raises(ForbiddenError),
    ):
        PartnershipService(deps).create(["acme", "globex"], "supplier")
    assert denials_of(orgs.components, "self-serve") == [
        (orgs.acme_admin, "manage_partnerships", "policy")
    ]
    assert not orgs.active("acme", "globex")


def test_ending_unlinks_once_and_a_new_link_renews_the_same_partnership(orgs: Orgs) -> None:
    partnership = orgs.link()
    with acting_as(orgs.components, orgs.operator, "end") as deps:
        assert PartnershipService(deps).end(partnership.id).status == "ended"
    assert events_of(orgs.components, "end") == [("partnership.end", "success")]
    assert not orgs.active("acme", "globex")
    with (
        acting_as(orgs.components, orgs.operator, "end-again") as deps,
        pytest.raises(InvalidStateError),
    ):
        PartnershipService(deps).end(partnership.id)
    assert orgs.link("renew").id == partnership.id
    assert orgs.active("acme", "globex")


def test_a_party_may_not_end_it_and_an_outsider_is_told_it_does_not_exist(orgs: Orgs) -> None:
    partnership = orgs.link()
    with (
        acting_as(orgs.components, orgs.acme_admin, "party") as deps,
        pytest.raises(ForbiddenError),
    ):
        PartnershipService(deps).end(partnership.id)
    for request_id, target in (("outsider", partnership.id), ("missing", "no-such-id")):
        with (
            acting_as(orgs.components, orgs.outsider, request_id) as deps,
            pytest.raises(NotFoundError),
        ):
            PartnershipService(deps).end(target)
    assert denials_of(orgs.components, "party") == [(orgs.acme_admin, "end", "policy")]
    concealed = [
        (orgs.outsider, "end", "policy"),
        (None, "authz.concealed_target", "concealed"),
    ]
    assert denials_of(orgs.components, "outsider") == concealed
    assert denials_of(orgs.components, "missing") == concealed
    assert orgs.active("acme", "globex")


def test_members_list_only_their_own_orgs_partnerships(orgs: Orgs) -> None:
    orgs.link()
    orgs.link("other", "globex", "initech")
    with acting_as(orgs.components, orgs.acme_admin, "list") as deps:
        mine = PartnershipService(deps).list_visible(None, 10).items
    with acting_as(orgs.components, orgs.operator, "list-all") as deps:
        everyone = PartnershipService(deps).list_visible(None, 10).items
    assert len(mine) == 1 and len(everyone) == 2
