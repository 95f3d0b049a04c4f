"""Member and service-account use cases through the service layer (no HTTP): an org's admins
manage its principals, roles and keys; no one changes their own roles."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from escrow.clock import FrozenClock
from escrow.components import Components
from escrow.errors import ConflictError, ForbiddenError, InvalidStateError, ValidationError
from escrow.members.service import MemberService
from storage.models import ApiKey
from tests.fixtures.api import Ecosystem
from tests.unit.services.acting import acting_as, denials_of, entries_of, events_of


class Acme:
    """Acme with an admin and a steward."""

    def __init__(self, eco: Ecosystem, components: Components) -> None:
        eco.org("acme")
        self.components = components
        self.admin = eco.admin_of("acme").id
        self.steward = eco.principal("acme", "steward").id


@pytest.fixture
def acme(eco: Ecosystem, components: Components) -> Acme:
    return Acme(eco, components)


def test_an_admin_adds_a_member_and_a_service_account_each_audited_with_its_roles(
    acme: Acme,
) -> None:
    with acting_as(acme.components, acme.admin, "add-user") as deps:
        user = MemberService(deps).create("acme", "user", "ann", ["steward"], "ann@acme.example")
    with acting_as(acme.components, acme.admin, "add-robot") as deps:
        robot = MemberService(deps).create("acme", "service", "etl", ["member", "member"])
    assert user.key is None and robot.key is None  # keys are issued separately
    assert robot.member.roles == ("member",)
    assert events_of(acme.components, "add-user") == [("user.create", "success")]
    [entry] = entries_of(acme.components, "add-robot")
    assert (entry["action"], entry["details"]) == ("service.create", {"roles": ["member"]})


@pytest.mark.parametrize(
    ("kind", "name", "roles", "email", "error"),
    [
        ("service", "acme-steward", ["member"], None, ConflictError),  # the name is taken
        ("service", "etl", ["member"], "etl@acme.example", ValidationError),
        ("user", "ann", ["owner"], None, ValidationError),
        ("user", "ann", ["operator"], None, ValidationError),  # a platform role only
        ("user", "ann", [], None, ValidationError),
    ],
)
def test_invalid_principals_are_refused_and_nothing_is_written(
    acme: Acme, kind: str, name: str, roles: list[str], email: str | None, error: type[Exception]
) -> None:
    with acting_as(acme.components, acme.admin, "add") as deps, pytest.raises(error):
        MemberService(deps).create("acme", kind, name, roles, email)
    assert events_of(acme.components, "add") == []


def test_removal_revokes_every_key_at_once_and_only_once(acme: Acme, clock: FrozenClock) -> None:
    for n in range(2):
        with acting_as(acme.components, acme.admin, f"issue-{n}") as deps:
            MemberService(deps).issue_key("acme", "service", acme.steward)
    clock.advance(minutes=5)
    with acting_as(acme.components, acme.admin, "remove") as deps:
        MemberService(deps).remove("acme", "service", acme.steward)
    assert events_of(acme.components, "remove") == [("service.remove", "success")]
    with acme.components.db.session() as session:
        revoked = session.scalars(
            select(ApiKey.revoked_at).where(ApiKey.principal_id == acme.steward)
        )
        assert list(revoked) == [clock.now()] * 3  # the key it was created with, and two more
    with acting_as(acme.components, acme.admin, "again") as deps:
        with pytest.raises(InvalidStateError):
            MemberService(deps).remove("acme", "service", acme.steward)
        with pytest.raises(InvalidStateError):
            MemberService(deps).issue_key("acme", "service", acme.steward)
    assert events_of(acme.components, "again") == []


def test_an_admin_changes_anothers_roles_but_never_its_own(acme: Acme) -> None:
    with acting_as(acme.components, acme.admin, "promote") as deps:
        promoted = MemberService(deps).set_roles("acme", "service", acme.steward, ["admin"])
    assert promoted.roles == ("admin",)
    [entry] = entries_of(acme.components, "promote")
    assert entry["details"] == {"before": ["steward"], "after": ["admin"]}
    with acting_as(acme.components, acme.admin, "self") as deps, pytest.raises(ForbiddenError):
        MemberService(deps).set_roles("acme", "service", acme.admin, ["admin", "auditor"])
    assert denials_of(acme.components, "self") == [(acme.admin, "change_roles", "policy")]


def test_a_steward_may_not_manage_members_and_the_attempt_is_audited(acme: Acme) -> None:
    with acting_as(acme.components, acme.steward, "add") as deps, pytest.raises(ForbiddenError):
        MemberService(deps).create("acme", "service", "helper", ["admin"])
    assert denials_of(acme.components, "add") == [(acme.steward, "manage_members", "policy")]
