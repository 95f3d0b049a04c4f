"""Organization use cases through the service layer (no HTTP): operators create, suspend and
reinstate organizations; a suspended organization's principals can do nothing."""

from __future__ import annotations

import pytest

from escrow.components import Components
from escrow.errors import (
    ConflictError,
    ForbiddenError,
    InvalidStateError,
    NotFoundError,
    ValidationError,
)
from escrow.members.service import MemberService
from escrow.orgs.results import Org
from escrow.orgs.service import OrgService
from tests.fixtures.api import Ecosystem
from tests.unit.services.acting import acting_as, denials_of, events_of


class World:
    """Acme and its partner Globex, each with an admin, and the platform's operator."""

    def __init__(self, eco: Ecosystem, components: Components) -> None:
        eco.org("acme")
        eco.org("globex")
        eco.partnership("acme", "globex")
        self.components = components
        self.operator = eco.operator.id
        self.acme_admin = eco.admin_of("acme").id
        self.globex_admin = eco.admin_of("globex").id

    def set_status(self, slug: str, status: str, request_id: str, by: str = "") -> str:
        with acting_as(self.components, by or self.operator, request_id) as deps:
            return OrgService(deps).set_status(slug, status).status


@pytest.fixture
def world(eco: Ecosystem, components: Components) -> World:
    return World(eco, components)


def test_an_operator_creates_an_org_once_under_a_valid_slug(world: World) -> None:
    with acting_as(world.components, world.operator, "create") as deps:
        org = OrgService(deps).create("initech", "Initech", "core")
    assert isinstance(org, Org)  # a result, not a row of the closed session
    assert (org.slug, org.status, org.tier) == ("initech", "active", "core")
    assert events_of(world.components, "create") == [("org.create", "success")]
    refusals = [("initech", "core", ConflictError), ("platform", "core", ValidationError)]
    refusals += [("x", "core", ValidationError), ("hooli", "premium", ValidationError)]
    for slug, tier, error in refusals:
        with (
            acting_as(world.components, world.operator, f"bad-{slug}") as deps,
            pytest.raises(error),
        ):
            OrgService(deps).create(slug, slug.title(), tier)
        assert events_of(world.components, f"bad-{slug}") == []


def test_an_org_admin_may_not_create_orgs_and_the_attempt_is_audited(world: World) -> None:
    with (
        acting_as(world.components, world.acme_admin, "create") as deps,
        pytest.raises(ForbiddenError),
    ):
        OrgService(deps).create("acme-two", "Acme Two", "core")
    assert denials_of(world.components, "create") == [(world.acme_admin, "create_org", "policy")]


def test_suspension_and_reinstatement_are_each_audited_once(world: World) -> None:
    assert world.set_status("acme", "suspended", "suspend") == "suspended"
    with pytest.raises(InvalidStateError):
        world.set_status("acme", "suspended", "suspend-again")
    assert world.set_status("acme", "active", "reinstate") == "active"
    assert events_of(world.components, "suspend") == [("org.suspend", "success")]
    assert events_of(world.components, "suspend-again") == []
    assert events_of(world.components, "reinstate") == [("org.reactivate", "success")]
    with pytest.raises(InvalidStateError):
        world.set_status("platform", "suspended", "suspend-platform")


def test_an_admin_may_not_suspend_its_own_org_nor_a_partners(world: World) -> None:
    with pytest.raises(ForbiddenError):
        world.set_status("acme", "suspended", "own", by=world.acme_admin)
    with pytest.raises(ForbiddenError):
        world.set_status("globex", "suspended", "partner", by=world.acme_admin)
    assert denials_of(world.components, "own") == [(world.acme_admin, "change_status", "policy")]
    assert denials_of(world.components, "partner") == [
        (world.acme_admin, "change_status", "policy")
    ]
    with acting_as(world.components, world.operator, "read") as deps:
        assert OrgService(deps).get("acme").status == "active"


def test_a_suspended_orgs_admin_can_do_nothing_until_reinstated(world: World) -> None:
    def add_member(request_id: str) -> str:
        with acting_as(world.components, world.acme_admin, request_id) as deps:
            created = MemberService(deps).create("acme", "user", request_id, ["member"])
            return created.member.status

    world.set_status("acme", "suspended", "suspend")
    with (
        acting_as(world.components, world.acme_admin, "read") as deps,
        pytest.raises(NotFoundError),
    ):
        OrgService(deps).get("acme")
    with pytest.raises(NotFoundError):
        add_member("add-member")
    for request_id, action in (("read", "read"), ("add-member", "manage_members")):
        assert denials_of(world.components, request_id) == [
            (world.acme_admin, action, "policy"),
            (None, "authz.concealed_target", "concealed"),
        ]
    world.set_status("acme", "active", "reinstate")
    assert add_member("add-member-after") == "active"
    assert events_of(world.components, "add-member-after") == [("user.create", "success")]


def test_partners_see_each_others_card_only_while_it_is_active(world: World) -> None:
    def visible_to_globex(request_id: str) -> list[str]:
        with acting_as(world.components, world.globex_admin, request_id) as deps:
            return sorted(org.slug for org in OrgService(deps).list_visible(None, 10).items)

    assert visible_to_globex("list") == ["acme", "globex"]
    world.set_status("acme", "suspended", "suspend")
    assert visible_to_globex("list-suspended") == ["globex"]
    with (
        acting_as(world.components, world.globex_admin, "read") as deps,
        pytest.raises(NotFoundError),
    ):
        OrgService(deps).get("acme")
