"""Separation of duties through the member service (no HTTP): an operator seeds only an
organization's first admin and contains (suspend, revoke), each flagged on its audit event,
but never becomes a member; only an operator grants the operator role."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest

from escrow.components import Components
from escrow.errors import EscrowError, ForbiddenError
from escrow.members.duties import OPERATOR_ACTION
from escrow.members.service import MemberService
from tests.fixtures.api import Ecosystem
from tests.unit.services.acting import acting_as, denials_of, entries_of


def seed(components: Components, operator: str, name: str, request_id: str) -> str:
    with acting_as(components, operator, request_id) as deps:
        created = MemberService(deps).create("acme", "service", name, ["admin"])
    assert created.key is not None and created.key.secret  # its only key, shown once
    assert created.key.secret not in repr(created)  # nor logged with the result
    return created.member.id


def test_an_operator_seeds_the_first_admin_with_its_key_flagged(
    eco: Ecosystem, components: Components
) -> None:
    eco.org("acme")
    admin = seed(components, eco.operator.id, "boss", "seed")
    [entry] = entries_of(components, "seed")
    assert (entry["action"], entry["resource"]["id"]) == ("service.create", admin)
    assert entry["details"][OPERATOR_ACTION] == "create_first_admin"
    assert entry["details"]["key_id"]


def test_once_an_org_has_an_admin_the_operator_neither_adds_nor_mints(
    eco: Ecosystem, components: Components
) -> None:
    eco.org("acme")
    admin = eco.admin_of("acme").id
    operator = eco.operator.id
    with acting_as(components, operator, "add") as deps, pytest.raises(ForbiddenError):
        MemberService(deps).create("acme", "service", "usurper", ["admin"])
    with acting_as(components, operator, "mint") as deps, pytest.raises(ForbiddenError):
        MemberService(deps).issue_key("acme", "service", admin)
    assert denials_of(components, "add") == [(operator, "manage_members", "policy")]
    assert denials_of(components, "mint") == [(operator, "manage_keys", "policy")]


def test_a_suspended_admin_still_counts_so_seeding_stays_closed(
    eco: Ecosystem, components: Components
) -> None:
    eco.org("acme")
    admin = eco.admin_of("acme").id
    with acting_as(components, eco.operator.id, "contain") as deps:
        MemberService(deps).set_status("acme", "service", admin, "suspended")
    with pytest.raises(ForbiddenError):
        seed(components, eco.operator.id, "usurper", "seed")
    assert denials_of(components, "seed") == [(eco.operator.id, "manage_members", "policy")]


def test_containment_by_an_operator_is_flagged_and_an_admins_own_is_not(
    eco: Ecosystem, components: Components
) -> None:
    eco.org("acme")
    admin = eco.admin_of("acme")
    steward = eco.principal("acme", "steward")
    with acting_as(components, eco.operator.id, "operator-suspends") as deps:
        MemberService(deps).set_status("acme", "service", steward.id, "suspended")
    with acting_as(components, eco.operator.id, "operator-revokes") as deps:
        MemberService(deps).revoke_key("acme", "service", steward.id, steward.key_id)
    with acting_as(components, admin.id, "admin-reactivates") as deps:
        MemberService(deps).set_status("acme", "service", steward.id, "active")
    flags = {
        request_id: [
            entry["details"].get(OPERATOR_ACTION) for entry in entries_of(components, request_id)
        ]
        for request_id in ("operator-suspends", "operator-revokes", "admin-reactivates")
    }
    assert flags == {
        "operator-suspends": ["suspend"],
        "operator-revokes": ["revoke_key"],
        "admin-reactivates": [None],
    }


def test_of_two_operators_seeding_at_once_exactly_one_succeeds(
    eco: Ecosystem, components: Components
) -> None:
    eco.org("acme")
    operators = [eco.operator.id, eco.principal("platform", "operator", name="second-op").id]
    barrier = Barrier(2)

    def attempt(n: int) -> str:
        barrier.wait()
        try:
            return seed(components, operators[n], f"admin-{n}", f"seed-{n}")
        except EscrowError as refused:
            return type(refused).__name__

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(attempt, range(2)))
    assert sorted(o == "ForbiddenError" for o in outcomes) == [False, True], outcomes


def test_only_an_operator_grants_the_operator_role(eco: Ecosystem, components: Components) -> None:
    platform_admin = eco.principal("platform", "admin", name="plain-admin").id
    helper = eco.principal("platform", "member", name="helper").id
    with (
        acting_as(components, platform_admin, "grant") as deps,
        pytest.raises(ForbiddenError),
    ):
        MemberService(deps).set_roles("platform", "service", helper, ["operator"])
    assert denials_of(components, "grant") == [(platform_admin, "manage_operators", "policy")]
    with acting_as(components, eco.operator.id, "grant-by-operator") as deps:
        granted = MemberService(deps).set_roles("platform", "service", helper, ["operator"])
    assert granted.roles == ("operator",)
