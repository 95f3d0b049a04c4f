"""Through HTTP, while another transaction integrates the audit log (holds its head), or
another of this process waits for it: a request that needs its event's index waits,
boundedly, then answers 503 having changed nothing; any other request records its event in
the queue and answers at once; and a read of the log sees what was queued."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from escrow.components import Components
from storage.db import Database
from storage.models import AuditQueueEntry
from tests.fixtures.database import audit_head_held
from tests.fixtures.datasets import Partners, create_dataset, deposit

ROWS = b"region,amount\nEU,10\nUS,20\n"


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**settings_env, "ESCROW_AUDIT_INDEX_WAIT_SECONDS": "1"}


def _queued(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditQueueEntry)) or 0)


def test_a_deposit_that_cannot_number_its_receipt_is_503_and_keeps_nothing(
    partners: Partners, db: Database
) -> None:
    dataset = create_dataset(partners.steward)
    versions = f"/v1/datasets/{dataset['id']}/versions"
    with audit_head_held(db):
        refused = deposit(partners.steward, dataset["id"], ROWS)
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"] == "https://partner-escrow.dev/problems/audit-unavailable"
    assert refused.headers["retry-after"] == "1"
    assert partners.steward.get(versions).json()["items"] == []  # nothing was kept
    stored = deposit(partners.steward, dataset["id"], ROWS)  # the head free again: as usual
    assert stored.status_code == 201, stored.text
    version = stored.json()
    assert version["version"] == 1 and isinstance(version["receipt"]["audit_index"], int)


def test_a_deposit_that_cannot_get_its_turn_in_this_process_is_503_and_keeps_nothing(
    partners: Partners, components: Components
) -> None:
    """Another transaction of this process that will number an event holds its turn
    (AuditLog.indexing) past the wait: the deposit is refused like one that cannot get the
    head."""
    dataset = create_dataset(partners.steward)
    versions = f"/v1/datasets/{dataset['id']}/versions"
    with components.audit.indexing():
        refused = deposit(partners.steward, dataset["id"], ROWS)
    assert refused.status_code == 503, refused.text
    assert refused.json()["type"] == "https://partner-escrow.dev/problems/audit-unavailable"
    assert refused.headers["retry-after"] == "1"
    assert partners.steward.get(versions).json()["items"] == []
    assert deposit(partners.steward, dataset["id"], ROWS).status_code == 201


def test_a_denial_is_queued_at_once_and_the_next_read_of_the_log_sees_it(
    partners: Partners, db: Database, components: Components
) -> None:
    components.trail.integrate_queued()  # what setting the partners up recorded
    with audit_head_held(db):
        probe = partners.member.get("/v1/orgs/nowhere", headers={"X-Request-ID": "queued-probe"})
        assert probe.status_code == 404  # answered without waiting for the head
        assert _queued(db) == 2  # the denial and the operators' record of it
    page = partners.operator.get("/v1/audit/events", params={"outcome": "denied", "limit": 200})
    assert page.status_code == 200, page.text
    requests = [json.loads(event["entry"])["request_id"] for event in page.json()["items"]]
    assert requests.count("queued-probe") == 2
    assert _queued(db) == 0
