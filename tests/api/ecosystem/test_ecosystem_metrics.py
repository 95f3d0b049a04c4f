"""GET /v1/ecosystem/metrics through HTTP: a small market over two weeks, to the second.

Deposits, releases, downloads, times to release and pending approvals are checked against
hand-computed numbers; interactions (every audit event, token requests included) against
an independent count of the audit events' own ``orgs`` and ``time``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from escrow.app import build_components, create_app
from escrow.clock import FrozenClock
from escrow.components import Components
from escrow.config import load_settings
from escrow.orgs.bootstrap import bootstrap
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import AuditEvent, Organization
from tests.fixtures.api import Caller, Ecosystem, token_for
from tests.fixtures.audit import log_session
from tests.fixtures.datasets import create_dataset, deposit

MONDAY = datetime(2025, 3, 3, tzinfo=UTC)  # day 0 of the market; its week starts here
SCHEMA = {"fields": [{"name": "region", "type": "string"}, {"name": "amount", "type": "number"}]}
CSV1 = b"region,amount\nEU,10\nUS,20\n"
CSV2 = b"region,amount\n" + b"EU,1\nUS,2\n" * 20
URL = "/v1/ecosystem/metrics"
WINDOW = {"from": "2025-03-03T00:00:00Z", "to": "2025-03-13T00:00:00Z"}
A1, A2, A4 = 2 * 3600, 2 * 86400, 3600  # seconds from agreement to release


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(at(0, 9))


class Market:
    """Acme escrows sales data for two partners, Globex and Initech, over two weeks;
    Hooli is in the ecosystem but deals with nobody.

    day 0 (Mon 3 Mar)  09:00 v1 deposited (26 B); 10:00 A1 for Globex, approved 12:00;
                       13:00 Globex downloads v1 (26 B); 14:00 Acme reads 10 B of it
    day 1              09:00 v2 deposited; 09:30 A2 for Initech with a view
    day 3              09:30 A2 approved; 10:00 Initech downloads its view of v2
    day 8 (Tue 11 Mar) 09:00 A3 for Globex needs 2 approvals, gets 1 at 09:10;
                       09:20 A4 for Initech, approved 10:20; 11:00 A5 for Initech needs 2,
                       gets none; 12:00 A6 for Globex, expires day 9 unapproved
    day 10             09:00 now
    """

    def __init__(self, eco: Ecosystem, clock: FrozenClock) -> None:
        self.eco, self.clock = eco, clock
        for slug in ("acme", "globex", "initech", "hooli"):
            eco.org(slug)
        eco.partnership("acme", "globex")
        eco.partnership("acme", "initech")
        self.steward = eco.principal("acme", "steward")
        self.admin = eco.principal("acme", "admin")
        self.member = eco.principal("acme", "member")
        self.globex_admin = eco.principal("globex", "admin")
        self.globex = eco.principal("globex", "member")
        self.initech = eco.principal("initech", "member")
        self.hooli_admin = eco.principal("hooli", "admin")
        self.operator = eco.operator
        self.dataset = create_dataset(self.steward, name="sales", schema=SCHEMA)["id"]
        assert deposit(self.steward, self.dataset, CSV1).status_code == 201
        self.move_to(at(0, 10))
        a1 = self.propose("globex")
        self.move_to(at(0, 12))
        assert self.approve(a1)["state"] == "released"
        self.move_to(at(0, 13), self.globex)
        assert self.content(self.globex, 1).content == CSV1
        self.move_to(at(0, 14), self.member)
        assert len(self.content(self.member, 1, Range="bytes=0-9").content) == 10
        self.move_to(at(1, 9))
        assert deposit(self.steward, self.dataset, CSV2).status_code == 201
        self.move_to(at(1, 9, 30))
        a2 = self.propose("initech", view={"fields": ["region"]})
        self.move_to(at(3, 9, 30))
        assert self.approve(a2)["state"] == "released"
        self.move_to(at(3, 10), self.initech)
        self.view_bytes = len(self.content(self.initech, 2).content)
        assert 0 < self.view_bytes < len(CSV2)
        self.move_to(at(8, 9))
        a3 = self.propose("globex", required=2, approvers=["owner:steward", "beneficiary:admin"])
        self.move_to(at(8, 9, 10))
        assert self.approve(a3)["state"] == "pending"
        self.move_to(at(8, 9, 20))
        self.a4 = self.propose("initech")
        self.move_to(at(8, 10, 19))
        clock.advance(minutes=1)  # tokens still fresh: nothing else happens at 10:20
        assert self.approve(self.a4)["state"] == "released"
        self.move_to(at(8, 11))
        self.propose("initech", required=2)
        self.move_to(at(8, 12))
        self.propose("globex", expires_at=at(9, 9).isoformat())
        self.move_to(at(10, 9), *eco.callers)

    def move_to(self, moment: datetime, *callers: Caller) -> None:
        """Time moves on; the callers about to act (the steward unless named) get fresh
        tokens, each request for one an audit event like any other."""
        self.clock.advance(seconds=(moment - self.clock.now()).total_seconds())
        for caller in callers or (self.steward,):
            caller.refresh()

    def propose(
        self,
        beneficiary: str,
        required: int = 1,
        approvers: list[str] | None = None,
        **terms: Any,
    ) -> str:
        body = {
            "beneficiary": beneficiary,
            "purpose": "planning",
            "approvals": {"required": required, "from": approvers or ["owner:steward"]},
            **terms,
        }
        response = self.steward.post(f"/v1/datasets/{self.dataset}/agreements", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def approve(self, agreement_id: str) -> dict[str, Any]:
        url = f"/v1/agreements/{agreement_id}/approvals"
        response = self.steward.post(url, json={"decision": "approve"})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def content(self, caller: Caller, version: int, **headers: str) -> Any:
        url = f"/v1/datasets/{self.dataset}/versions/{version}/content"
        response = caller.get(url, headers=headers)
        assert response.status_code == (206 if "Range" in headers else 200), response.text
        return response


@pytest.fixture
def market(eco: Ecosystem, clock: FrozenClock) -> Market:
    return Market(eco, clock)


def report(caller: Caller, **params: str) -> dict[str, Any]:
    response = caller.get(URL, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def flows(figures: dict[str, Any]) -> tuple[Any, ...]:
    """Everything but interactions (checked against the audit log itself)."""
    return (
        figures["deposits"],
        figures["releases"],
        figures["downloads"],
        figures["median_seconds_to_release"],
        figures.get("approvals_pending"),
    )


def volume(count: int, size: int) -> dict[str, int]:
    return {"count": count, "bytes": size}


def pending(agreements: int, approvals: int) -> dict[str, int]:
    return {"agreements": agreements, "approvals": approvals}


NOTHING: tuple[dict[str, int], int, dict[str, int], int | None] = (
    volume(0, 0),
    0,
    volume(0, 0),
    None,
)


# ---------------------------------------------------------------------- the oracle


def audited(components: Components, start: str, end: str) -> list[tuple[datetime, set[str]]]:
    """Each audit event in [start, end): its time and the slugs of the orgs it names."""
    low, high = datetime.fromisoformat(start), datetime.fromisoformat(end)
    with log_session(components) as session:
        slugs: dict[str, str] = {
            row.id: row.slug for row in session.execute(select(Organization.id, Organization.slug))
        }
        entries = [json.loads(e) for e in session.scalars(select(AuditEvent.entry))]
    events = [(datetime.fromisoformat(e["time"]), {slugs[o] for o in e["orgs"]}) for e in entries]
    return [(when, orgs) for when, orgs in events if low <= when < high]


def interactions(
    events: list[tuple[datetime, set[str]]], body: dict[str, Any], scope: str | None
) -> tuple[int, list[int], dict[str, int]]:
    """What the report should say: in scope, per period, and per partner (or per org)."""
    kept = [(when, orgs) for when, orgs in events if scope is None or scope in orgs]
    starts = [datetime.fromisoformat(p["start"]) for p in body["periods"]]
    per_period = [
        sum(1 for when, _ in kept if start <= when < datetime.fromisoformat(p["end"]))
        for start, p in zip(starts, body["periods"], strict=True)
    ]
    per_org = Counter(org for _, orgs in kept for org in orgs if org != scope)
    return len(kept), per_period, dict(per_org)


def assert_interactions(body: dict[str, Any], components: Components, scope: str | None) -> None:
    events = audited(components, body["from"], body["to"])
    total, per_period, per_org = interactions(events, body, scope)
    assert total > 0
    assert body["totals"]["interactions"] == total
    assert [p["interactions"] for p in body["periods"]] == per_period
    assert {p["org"]: p["interactions"] for p in body["partners"]} == per_org


# ---------------------------------------------------------------------- reports


def test_operators_see_the_whole_ecosystem_by_week(market: Market, components: Components) -> None:
    body = report(market.operator, **WINDOW, period="week")
    assert (body["org"], body["period"]) == (None, "week")
    assert (body["from"], body["to"]) == ("2025-03-03T00:00:00Z", "2025-03-13T00:00:00Z")
    assert datetime.fromisoformat(body["generated_at"]) == at(10, 9)
    v = market.view_bytes
    deposits = volume(2, len(CSV1) + len(CSV2))
    downloads = volume(3, len(CSV1) + 10 + v)
    assert flows(body["totals"]) == (deposits, 3, downloads, A1, pending(2, 3))
    assert [(p["start"], p["end"]) for p in body["periods"]] == [
        ("2025-03-03T00:00:00Z", "2025-03-10T00:00:00Z"),
        ("2025-03-10T00:00:00Z", "2025-03-13T00:00:00Z"),
    ]
    assert [flows(p) for p in body["periods"]] == [
        (deposits, 2, downloads, (A1 + A2) / 2, None),
        (volume(0, 0), 1, volume(0, 0), A4, None),
    ]
    partners = {p["org"]: flows(p) for p in body["partners"]}
    assert partners == {
        "acme": (deposits, 3, downloads, A1, pending(2, 3)),
        "globex": (volume(0, 0), 1, volume(1, len(CSV1)), A1, pending(1, 1)),
        "initech": (volume(0, 0), 2, volume(1, v), (A2 + A4) / 2, pending(1, 2)),
        "hooli": (*NOTHING, pending(0, 0)),
        "platform": (*NOTHING, pending(0, 0)),
    }
    assert_interactions(body, components, None)


def test_an_admin_sees_its_organization_by_partner(market: Market, components: Components) -> None:
    body = report(market.admin, **WINDOW, period="week")
    assert body["org"] == "acme"
    v = market.view_bytes
    deposits = volume(2, len(CSV1) + len(CSV2))
    downloads = volume(3, len(CSV1) + 10 + v)
    assert flows(body["totals"]) == (deposits, 3, downloads, A1, pending(2, 3))
    partners = {p["org"]: flows(p) for p in body["partners"]}
    # Deposits involve Acme alone; Hooli never dealt with Acme and is not listed.
    assert partners == {
        "globex": (volume(0, 0), 1, volume(1, len(CSV1)), A1, pending(1, 1)),
        "initech": (volume(0, 0), 2, volume(1, v), (A2 + A4) / 2, pending(1, 2)),
        "platform": (*NOTHING, pending(0, 0)),
    }
    assert_interactions(body, components, "acme")
    assert report(market.operator, **WINDOW, period="week", org="acme") == body


def test_daily_buckets_of_one_partner(market: Market, components: Components) -> None:
    body = report(market.operator, **WINDOW, period="day", org="initech")
    v = market.view_bytes
    assert body["org"] == "initech" and len(body["periods"]) == 10
    expected = [NOTHING] * 10
    expected[3] = (volume(0, 0), 1, volume(1, v), A2)
    expected[8] = (volume(0, 0), 1, volume(0, 0), A4)
    assert [flows(p)[:4] for p in body["periods"]] == expected
    assert body["periods"][3]["start"] == "2025-03-06T00:00:00Z"
    assert flows(body["totals"]) == (volume(0, 0), 2, volume(1, v), (A2 + A4) / 2, pending(1, 2))
    assert [p["org"] for p in body["partners"]] == ["acme", "platform"]
    assert_interactions(body, components, "initech")


def test_a_minute_holds_exactly_one_approval_and_its_release(market: Market) -> None:
    body = report(
        market.operator, **{"from": at(8, 10, 20).isoformat(), "to": at(8, 10, 21).isoformat()}
    )
    assert len(body["periods"]) == 1
    totals = body["totals"]
    assert (totals["interactions"], totals["releases"]) == (2, 1)  # approve, release
    assert totals["median_seconds_to_release"] == A4
    partners = {p["org"]: p["interactions"] for p in body["partners"]}
    # Globex did nothing that minute, but approvals it is party to are pending now.
    assert partners == {"acme": 2, "initech": 2, "globex": 0}


def test_months_and_the_default_window(market: Market) -> None:
    monthly = report(market.operator, **{"from": "2025-02-15T00:00:00Z"}, period="month")
    assert [(p["start"], p["end"]) for p in monthly["periods"]] == [
        ("2025-02-15T00:00:00Z", "2025-03-01T00:00:00Z"),
        ("2025-03-01T00:00:00Z", "2025-03-13T09:00:00Z"),
    ]
    assert [p["releases"] for p in monthly["periods"]] == [0, 3]
    default = report(market.admin)
    assert (default["from"], default["to"]) == ("2025-02-11T09:00:00Z", "2025-03-13T09:00:00Z")
    assert default["period"] == "day" and len(default["periods"]) == 31
    assert default["periods"][0]["end"] == "2025-02-12T00:00:00Z"
    assert default["totals"]["releases"] == 3


def test_pending_approvals_follow_decisions(market: Market) -> None:
    before = report(market.operator)["totals"]["approvals_pending"]
    market.globex_admin.post(
        f"/v1/agreements/{market.propose('globex', 2, ['beneficiary:admin'])}/approvals",
        json={"decision": "approve"},
    )
    after = report(market.operator)["totals"]["approvals_pending"]
    assert (after["agreements"], after["approvals"]) == (
        before["agreements"] + 1,
        before["approvals"] + 1,
    )


# ---------------------------------------------------------------------- who may read


def test_reading_is_audited(market: Market, components: Components) -> None:
    report(market.admin, **WINDOW)
    with log_session(components) as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        acme = session.scalar(select(Organization.id).where(Organization.slug == "acme"))
    assert last is not None
    entry = json.loads(last.entry)
    assert (last.action, last.outcome, last.resource_type) == (
        "ecosystem.metrics.read",
        "success",
        "ecosystem_metrics",
    )
    assert last.resource_id == acme and entry["orgs"] == [acme]
    assert entry["details"] == {
        "from": "2025-03-03T00:00:00+00:00",
        "to": "2025-03-13T00:00:00+00:00",
        "period": "day",
    }


def test_only_operators_and_the_organizations_admins_read_it(
    market: Market, components: Components
) -> None:
    def status(caller: Caller, **params: str) -> int:
        response = caller.get(URL, params=params)
        if response.status_code != 200:
            assert response.headers["content-type"] == "application/problem+json"
        return int(response.status_code)

    assert status(market.member) == 403
    assert status(market.member, org="acme") == 403
    assert status(market.globex_admin, org="acme") == 403  # a partner: it sees acme exists
    assert status(market.hooli_admin, org="acme") == 404  # no partner: acme is not disclosed
    assert status(market.admin, org="globex") == 403
    assert status(market.admin, org="hooli") == 404
    assert status(market.admin, org="no-such-org") == 404
    assert status(market.globex_admin) == 200
    with log_session(components) as session:
        denied = session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.resource_type == "ecosystem_metrics",
                AuditEvent.outcome == "denied",
                AuditEvent.action != "authz.concealed_target",  # operators' copy of a 404
            )
        ).all()
    # Seven: a slug that names no organization is denied like one the caller may not see.
    assert denied == ["read_metrics"] * 7


@pytest.mark.parametrize(
    ("params", "status", "slug"),
    [
        ({"from": "2025-03-10T00:00:00Z", "to": "2025-03-10T00:00:00Z"}, 422, "validation-error"),
        ({"from": "2025-03-11T00:00:00Z", "to": "2025-03-10T00:00:00Z"}, 422, "validation-error"),
        ({"from": "2023-01-01T00:00:00Z", "period": "day"}, 422, "validation-error"),
        ({"period": "year"}, 400, "malformed-request"),
        ({"from": "last tuesday"}, 400, "malformed-request"),
        ({"to": "2025-13-01T00:00:00Z"}, 400, "malformed-request"),
        ({"to": "0001-01-05T00:00:00Z"}, 422, "validation-error"),
        ({"from": "9999-12-31T00:00:00Z", "to": "9999-12-31T23:00:00Z"}, 422, "validation-error"),
    ],
)
def test_bad_parameters_are_problems(
    eco: Ecosystem, params: dict[str, str], status: int, slug: str
) -> None:
    response = eco.operator.get(URL, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/" + slug)


# ---------------------------------------------------------------------- SQLite


@pytest.fixture
def sqlite_eco(tmp_path: Path, keyring_path: Path, clock: FrozenClock) -> Iterator[Ecosystem]:
    """The embedded deployment: the same report from SQLite."""
    env = {
        "ESCROW_DATA_DIR": str(tmp_path / "data"),
        "ESCROW_KEYRING": str(keyring_path),
        "ESCROW_CHECKPOINT_INTERVAL": "0",
        "ESCROW_AGREEMENT_SWEEP_INTERVAL": "0",
        "ESCROW_WEBHOOK_INTERVAL": "0",
    }
    settings = load_settings(env)
    db = Database(settings.database_url)
    db.upgrade()
    components = build_components(
        settings, clock=clock, db=db, blobs=LocalBlobStore(tmp_path / "blobs")
    )
    try:
        with TestClient(app=create_app(components), raise_server_exceptions=False) as client:
            created = bootstrap(
                components.db, components.audit, components.clock, components.new_id
            )
            operator = Caller(
                client,
                created.key_id,
                created.secret,
                token_for(client, created.key_id, created.secret),
                "platform",
            )
            yield Ecosystem(client, operator)
    finally:
        db.dispose()


def test_the_same_figures_on_sqlite(sqlite_eco: Ecosystem, clock: FrozenClock) -> None:
    market = Market(sqlite_eco, clock)
    body = report(market.operator, **WINDOW, period="week")
    v = market.view_bytes
    deposits = volume(2, len(CSV1) + len(CSV2))
    downloads = volume(3, len(CSV1) + 10 + v)
    assert flows(body["totals"]) == (deposits, 3, downloads, A1, pending(2, 3))
    assert [flows(p) for p in body["periods"]] == [
        (deposits, 2, downloads, (A1 + A2) / 2, None),
        (volume(0, 0), 1, volume(0, 0), A4, None),
    ]
    acme = report(market.admin, **WINDOW, period="week")
    assert {p["org"]: p["releases"] for p in acme["partners"]} == {
        "globex": 1,
        "initech": 2,
        "platform": 0,
    }
    client: TestClient[Litestar] = sqlite_eco.client
    components: Components = client.app.state.components
    assert_interactions(body, components, None)
