"""The engine remembers decisions by their exact inputs: a changed fact is a new question."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from escrow.context import Actor
from escrow.policy.engine import PolicyEngine
from escrow.policy.resources import DatasetResource, OrgResource

POLICIES = Path(__file__).resolve().parents[3] / "policies"
ACME = OrgResource("o-acme", "acme", "active", "core")
GLOBEX_MEMBER = Actor("p-1", "o-globex", "globex", ("member",))
RELEASED = DatasetResource("d-1", ACME, (), "active", ("o-globex",))


def test_an_equal_question_is_answered_from_memory_and_a_changed_fact_is_asked_afresh(
    monkeypatch: pytest.MonkeyPatch,
):
    engine = PolicyEngine.from_directory(POLICIES)
    asked: list[object] = []
    real = engine._oso.is_allowed

    def counted(actor: object, action: str, resource: object) -> bool:
        asked.append((actor, action, resource))
        return bool(real(actor, action, resource))

    monkeypatch.setattr(engine._oso, "is_allowed", counted)

    assert engine.decide(GLOBEX_MEMBER, "download", RELEASED).allowed
    assert engine.decide(GLOBEX_MEMBER, "download", replace(RELEASED)).allowed  # equal value
    assert len(asked) == 1
    # The release ended, the dataset was withdrawn, the actor's org was suspended: each is new.
    assert not engine.decide(GLOBEX_MEMBER, "download", replace(RELEASED, released_to=())).allowed
    assert not engine.decide(
        GLOBEX_MEMBER, "download", replace(RELEASED, status="withdrawn")
    ).allowed
    suspended = replace(GLOBEX_MEMBER, org_active=False)
    assert not engine.decide(suspended, "download", RELEASED).allowed
    assert len(asked) == 4


def test_a_resource_that_is_not_a_frozen_value_is_asked_every_time():
    engine = PolicyEngine.from_directory(POLICIES)
    unhashable = {"not": "a resource"}
    for _ in range(2):
        assert not engine.decide(GLOBEX_MEMBER, "download", unhashable).allowed
