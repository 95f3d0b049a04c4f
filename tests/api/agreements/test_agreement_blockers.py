"""Every agreement answer carries the same blockers, an open objection window is shown with
its end, and a release is dated at the instant its conditions held (the embargo's end)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from escrow.agreements.lifecycle import sweep
from escrow.clock import FrozenClock
from escrow.components import Components
from tests.api.agreements.test_agreements import Deal
from tests.fixtures.api import Ecosystem


@pytest.fixture
def deal(eco: Ecosystem) -> Deal:
    return Deal(eco)


def test_every_agreement_answer_carries_the_same_blockers(deal: Deal) -> None:
    agreement = deal.propose(
        approvals={"required": 2, "from": ["owner:steward"]},
        attestation={"event": "contract_signed", "by": "initech"},
    )
    url = f"/v1/agreements/{agreement['id']}"
    assert agreement["blockers"] == ["approvals", "attestation"]
    approved = deal.steward.post(url + "/approvals", json={"decision": "approve"})
    assert approved.json()["blockers"] == ["approvals", "attestation"]
    attested = deal.outsider.post(
        url + "/attestations", json={"event": "contract_signed", "statement": "signed"}
    )
    assert attested.status_code == 201, attested.text
    assert attested.json()["blockers"] == ["approvals"]
    assert deal.steward.get(url).json()["blockers"] == ["approvals"]
    [listed] = deal.steward.get("/v1/agreements").json()["items"]
    assert listed["blockers"] == ["approvals"]
    refused = deal.steward.post(url + "/release")
    assert refused.status_code == 409 and refused.json()["blockers"] == ["approvals"]
    released = deal.steward2.post(url + "/approvals", json={"decision": "approve"}).json()
    assert released["state"] == "released" and released["blockers"] is None


def test_an_open_objection_window_is_a_blocker_with_its_end(deal: Deal, clock: FrozenClock) -> None:
    agreement = deal.propose(objection_window_hours=24)
    url = f"/v1/agreements/{agreement['id']}"
    approved = deal.steward.post(url + "/approvals", json={"decision": "approve"}).json()
    ends = clock.now() + timedelta(hours=24)
    assert approved["blockers"] == ["objection_window"]
    assert datetime.fromisoformat(approved["objection_window_ends_at"]) == ends
    read = deal.partner.get(url).json()
    assert read["blockers"] == ["objection_window"]
    assert datetime.fromisoformat(read["objection_window_ends_at"]) == ends
    refused = deal.steward.post(url + "/release")
    assert refused.status_code == 409 and refused.json()["blockers"] == ["objection_window"]
    assert datetime.fromisoformat(refused.json()["objection_window_ends_at"]) == ends
    deal.eco.advance(clock, hours=24)
    done = deal.partner.get(url).json()
    assert done["state"] == "released" and done["objection_window_ends_at"] is None


def test_an_embargo_release_seen_by_the_sweep_is_dated_at_not_before(
    deal: Deal, clock: FrozenClock, components: Components
) -> None:
    not_before = clock.now() + timedelta(hours=2)
    agreement = deal.propose(not_before=not_before.isoformat())
    deal.steward.post(f"/v1/agreements/{agreement['id']}/approvals", json={"decision": "approve"})
    deal.eco.advance(clock, hours=5)
    assert sweep(components.db, components.lifecycle) == 1
    released = deal.partner.get(f"/v1/agreements/{agreement['id']}").json()
    assert datetime.fromisoformat(released["released_at"]) == not_before
    assert datetime.fromisoformat(released["release_receipt"]["time"]) == not_before


def test_an_embargo_release_seen_at_access_is_dated_at_not_before(
    deal: Deal, clock: FrozenClock
) -> None:
    not_before = clock.now() + timedelta(hours=2)
    agreement = deal.propose(not_before=not_before.isoformat())
    deal.steward.post(f"/v1/agreements/{agreement['id']}/approvals", json={"decision": "approve"})
    deal.eco.advance(clock, hours=3)
    assert deal.content(deal.partner).status_code == 200
    released = deal.partner.get(f"/v1/agreements/{agreement['id']}").json()
    assert datetime.fromisoformat(released["released_at"]) == not_before


def test_an_approval_after_the_embargo_dates_the_release_at_the_approval(
    deal: Deal, clock: FrozenClock
) -> None:
    not_before = clock.now() + timedelta(hours=2)
    agreement = deal.propose(not_before=not_before.isoformat())
    deal.eco.advance(clock, hours=3)
    approved = deal.steward.post(
        f"/v1/agreements/{agreement['id']}/approvals", json={"decision": "approve"}
    ).json()
    assert datetime.fromisoformat(approved["released_at"]) == clock.now()


def test_an_objection_window_after_an_embargo_opens_at_not_before(
    deal: Deal, clock: FrozenClock, components: Components
) -> None:
    not_before = clock.now() + timedelta(hours=2)
    agreement = deal.propose(not_before=not_before.isoformat(), objection_window_hours=1)
    deal.steward.post(f"/v1/agreements/{agreement['id']}/approvals", json={"decision": "approve"})
    deal.eco.advance(clock, hours=4)
    assert sweep(components.db, components.lifecycle) == 1
    released = deal.partner.get(f"/v1/agreements/{agreement['id']}").json()
    assert datetime.fromisoformat(released["conditions_met_at"]) == not_before
    assert datetime.fromisoformat(released["released_at"]) == not_before + timedelta(hours=1)
