"""overlaps.changed: announced when a partner's new deposit changes a count one can see."""

from __future__ import annotations

import json

from sqlalchemy import select

from escrow.app import notify_overlap_changes
from escrow.audit.log import AuditRecord
from escrow.webhooks.events import derive
from storage.models import AuditEvent
from tests.api.overlaps.conftest import GLOBEX_CSV, Crms, crms
from tests.fixtures.datasets import deposit

__all__ = ["crms"]


def _changed(components) -> list[dict]:
    with components.db.session() as session:
        entries = session.scalars(
            select(AuditEvent.entry).where(AuditEvent.action == "overlaps.changed")
        )
        return [json.loads(entry) for entry in entries]


def test_a_partner_deposit_that_changes_a_visible_count_is_announced(crms: Crms, components):
    assert notify_overlap_changes(components) == 0  # first sight: recorded, not announced
    more = GLOBEX_CSV + b"delta.net,Delta,open_opportunity,yan-secret-rep\r\n"
    assert deposit(crms.globex, crms.globex_dataset, more).status_code == 201
    assert notify_overlap_changes(components) == 1  # acme prospects x globex opportunities: 0 -> 1
    events = _changed(components)
    assert len(events) == 1
    details = events[0]["details"]
    assert details["mine"] == crms.acme_prospects and details["theirs"] == crms.globex_opportunities
    assert "count" not in json.dumps(details)
    with components.db.session() as session:
        record = AuditRecord(
            "overlaps.changed", "success", "population", details["theirs"], details=details
        )
        occurrence = derive(session, record, components.clock.now())
    assert occurrence is not None and list(occurrence.recipients) == [details["viewer"]]
    assert occurrence.data["overlap"]["partner"] == "globex"
    assert notify_overlap_changes(components) == 0  # nothing new since


def test_a_deposit_that_changes_no_count_or_a_hidden_one_is_not_announced(crms: Crms, components):
    crms.share(crms.globex, crms.globex_opportunities, "acme", "hidden")
    notify_overlap_changes(components)
    same = GLOBEX_CSV + b"delta.net,Delta,open_opportunity,yan-secret-rep\r\n"
    assert deposit(crms.globex, crms.globex_dataset, same).status_code == 201
    notify_overlap_changes(components)
    assert [
        e
        for e in _changed(components)
        if e["details"]["viewer"] != e["details"]["partner"]
        and e["details"]["theirs"] == crms.globex_opportunities
    ] == []
