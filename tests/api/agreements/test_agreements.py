"""Escrow agreements through HTTP: terms, approvals, embargo, expiry, objection, attestation."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from escrow.agreements.lifecycle import sweep
from escrow.clock import FrozenClock
from escrow.components import Components
from storage.models import AuditEvent
from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.audit import log_session
from tests.fixtures.database import row_locks
from tests.fixtures.datasets import create_dataset, deposit

CSV = b"region,amount\nEU,10\nUS,20\n"
SCHEMA = {"fields": [{"name": "region", "type": "string"}, {"name": "amount", "type": "number"}]}


class Deal:
    """Acme (owner) escrows a dataset for Globex (beneficiary) across a supplier partnership."""

    def __init__(self, eco: Ecosystem) -> None:
        eco.org("acme", "strategic")
        eco.org("globex", "strategic")
        eco.org("initech", "core")
        eco.partnership("acme", "globex")
        self.eco = eco
        self.steward = eco.principal("acme", "steward")
        self.steward2 = eco.principal("acme", "steward", name="acme-steward-2")
        self.owner_admin = eco.principal("acme", "admin")
        self.partner = eco.principal("globex", "member")
        self.partner_admin = eco.principal("globex", "admin")
        self.outsider = eco.principal("initech", "admin")
        self.dataset = create_dataset(self.steward, schema=SCHEMA)
        assert deposit(self.steward, self.dataset["id"], CSV).status_code == 201

    def propose(self, **terms: Any) -> dict[str, Any]:
        body = {
            "beneficiary": "globex",
            "purpose": "demand planning",
            "approvals": {"required": 1, "from": ["owner:steward"]},
            **terms,
        }
        response = self.steward.post(f"/v1/datasets/{self.dataset['id']}/agreements", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def content(self, caller: Caller) -> Any:
        return caller.get(f"/v1/datasets/{self.dataset['id']}/versions/1/content")


@pytest.fixture
def deal(eco: Ecosystem) -> Deal:
    return Deal(eco)


def test_approval_releases_and_the_partner_downloads(deal: Deal) -> None:
    agreement = deal.propose()
    assert agreement["state"] == "pending" and agreement["blockers"] == ["approvals"]
    assert deal.content(deal.partner).status_code == 404
    approved = deal.steward.post(
        f"/v1/agreements/{agreement['id']}/approvals", json={"decision": "approve", "reason": "ok"}
    )
    assert approved.status_code == 201, approved.text
    released = approved.json()
    assert released["state"] == "released"
    receipt = released["release_receipt"]
    assert receipt["beneficiary"]["org"] == "globex" and receipt["signature"]
    assert len(receipt["policy_version"]) == 64 and receipt["approvers"][0]["as"] == "owner:steward"
    download = deal.content(deal.partner)
    assert download.status_code == 200 and download.content == CSV
    listed = [d["id"] for d in deal.partner.get("/v1/datasets").json()["items"]]
    assert listed == [deal.dataset["id"]]
    assert deal.content(deal.outsider).status_code == 404


def test_agreement_needs_an_active_partnership(deal: Deal) -> None:
    response = deal.steward.post(
        f"/v1/datasets/{deal.dataset['id']}/agreements",
        json={
            "beneficiary": "initech",
            "purpose": "x",
            "approvals": {"required": 0, "from": ["owner:steward"]},
        },
    )
    assert response.status_code == 409


def test_a_beneficiary_that_does_not_exist_is_refused_like_one_that_is_no_partner(
    deal: Deal,
) -> None:
    url = f"/v1/datasets/{deal.dataset['id']}/agreements"
    terms = {"purpose": "x", "approvals": {"required": 0, "from": ["owner:steward"]}}
    existing = deal.steward.post(url, json={**terms, "beneficiary": "initech"})
    missing = deal.steward.post(url, json={**terms, "beneficiary": "no-such-org"})
    assert existing.status_code == missing.status_code == 409
    answers = [r.json() for r in (existing, missing)]
    for answer, slug in zip(answers, ("initech", "no-such-org"), strict=True):
        del answer["request_id"]
        answer["detail"] = answer["detail"].replace(slug, "<org>")
    assert answers[0] == answers[1]


def test_only_named_approvers_decide_and_each_once(deal: Deal) -> None:
    agreement = deal.propose(
        approvals={"required": 2, "from": ["owner:steward", "beneficiary:admin"]}
    )
    url = f"/v1/agreements/{agreement['id']}/approvals"
    assert deal.partner.post(url, json={"decision": "approve"}).status_code == 403
    assert deal.outsider.post(url, json={"decision": "approve"}).status_code == 404
    assert deal.steward.post(url, json={"decision": "approve"}).status_code == 201
    assert deal.steward.post(url, json={"decision": "approve"}).status_code == 409
    final = deal.partner_admin.post(url, json={"decision": "approve"})
    assert final.json()["state"] == "released"


def test_a_rejection_ends_the_agreement(deal: Deal) -> None:
    agreement = deal.propose(approvals={"required": 2, "from": ["owner:steward"]})
    url = f"/v1/agreements/{agreement['id']}/approvals"
    rejected = deal.steward.post(url, json={"decision": "reject", "reason": "not now"})
    assert rejected.json()["state"] == "rejected"
    assert deal.steward2.post(url, json={"decision": "approve"}).status_code == 409
    assert deal.steward.post(f"/v1/agreements/{agreement['id']}/release").status_code == 409


def test_embargo_holds_release_until_the_second(deal: Deal, clock: FrozenClock) -> None:
    not_before = clock.now() + timedelta(hours=2)
    agreement = deal.propose(not_before=not_before.isoformat())
    deal.steward.post(f"/v1/agreements/{agreement['id']}/approvals", json={"decision": "approve"})
    read = deal.partner.get(f"/v1/agreements/{agreement['id']}").json()
    assert read["state"] == "pending" and read["blockers"] == ["embargo"]
    deal.eco.advance(clock, hours=2, seconds=-1)
    assert deal.content(deal.partner).status_code == 404
    deal.eco.advance(clock, seconds=1)
    assert deal.content(deal.partner).status_code == 200  # lazy evaluation at access
    assert deal.partner.get(f"/v1/agreements/{agreement['id']}").json()["state"] == "released"


def test_expiry_is_enforced_at_the_moment_of_access(
    deal: Deal, clock: FrozenClock, components: Components
) -> None:
    agreement = deal.propose(
        expires_at=(clock.now() + timedelta(days=1)).isoformat(),
        approvals={"required": 0, "from": ["owner:steward"]},
    )
    assert deal.steward.post(f"/v1/agreements/{agreement['id']}/release").status_code == 200
    first = deal.partner.get(
        f"/v1/datasets/{deal.dataset['id']}/versions/1/content", headers={"Range": "bytes=0-5"}
    )
    assert first.status_code == 206
    deal.eco.advance(clock, days=1)
    # The download resumes at its next request, after the deadline: refused, and lazily
    # evaluated at access, the agreement is expired as of its deadline.
    resumed = deal.partner.get(
        f"/v1/datasets/{deal.dataset['id']}/versions/1/content", headers={"Range": "bytes=6-"}
    )
    assert resumed.status_code == 404
    ended = deal.steward.get(f"/v1/agreements/{agreement['id']}").json()
    assert ended["state"] == "expired" and ended["ended_at"] == agreement["expires_at"]
    assert sweep(components.db, components.lifecycle) == 0  # nothing left for the scheduled sweep


def test_a_read_under_a_live_release_locks_no_agreement_while_a_pending_one_is_evaluated(
    deal: Deal, components: Components
) -> None:
    """Only what time or the release rule may change now is locked at access: a pending
    agreement, a release past its expiry; a live release is left as it is."""
    agreement = deal.propose(approvals={"required": 0, "from": ["owner:steward"]})
    assert deal.steward.post(f"/v1/agreements/{agreement['id']}/release").status_code == 200
    dataset = deal.dataset["id"]
    with row_locks(components, dataset) as locks:
        assert deal.partner.get(f"/v1/datasets/{dataset}").status_code == 200
    assert locks == []
    deal.propose(approvals={"required": 1, "from": ["owner:steward"]})  # pending
    with row_locks(components, dataset) as locks:
        assert deal.partner.get(f"/v1/datasets/{dataset}").status_code == 200
    assert len(locks) == 1


def test_lists_evaluate_nothing_and_an_expired_release_leaves_them_by_its_time(
    deal: Deal, clock: FrozenClock, components: Components
) -> None:
    agreement = deal.propose(
        expires_at=(clock.now() + timedelta(days=1)).isoformat(),
        approvals={"required": 0, "from": ["owner:steward"]},
    )
    assert deal.steward.post(f"/v1/agreements/{agreement['id']}/release").status_code == 200
    listed = deal.partner.get("/v1/datasets").json()["items"]
    assert [d["id"] for d in listed] == [deal.dataset["id"]]
    deal.eco.advance(clock, days=1)
    with log_session(components) as session:
        events_before = session.query(AuditEvent).count()
    assert deal.partner.get("/v1/datasets").json()["items"] == []
    listed_agreements = deal.partner.get("/v1/agreements").json()["items"]
    assert [a["state"] for a in listed_agreements] == ["released"]  # as last evaluated
    with log_session(components) as session:
        # The two lists were audited reads at most; neither recorded the expiry.
        actions = [e.action for e in session.query(AuditEvent).order_by(AuditEvent.seq)][
            events_before:
        ]
        assert "agreement.expired" not in actions
    assert sweep(components.db, components.lifecycle) == 1  # the sweeper records it
    assert deal.partner.get("/v1/agreements").json()["items"][0]["state"] == "expired"


def test_revocation_takes_effect_at_once(deal: Deal) -> None:
    agreement = deal.propose(approvals={"required": 0, "from": ["owner:steward"]})
    deal.steward.post(f"/v1/agreements/{agreement['id']}/release")
    assert deal.content(deal.partner).status_code == 200
    assert deal.partner.post(f"/v1/agreements/{agreement['id']}/revoke").status_code == 403
    revoked = deal.steward.post(
        f"/v1/agreements/{agreement['id']}/revoke", json={"reason": "contract ended"}
    )
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert deal.content(deal.partner).status_code == 404
    assert deal.steward.post(f"/v1/agreements/{agreement['id']}/revoke").status_code == 409


def test_beneficiary_may_terminate_early(deal: Deal) -> None:
    agreement = deal.propose(approvals={"required": 0, "from": ["owner:steward"]})
    deal.steward.post(f"/v1/agreements/{agreement['id']}/release")
    assert deal.partner.post(f"/v1/agreements/{agreement['id']}/terminate").status_code == 403
    ended = deal.partner_admin.post(f"/v1/agreements/{agreement['id']}/terminate")
    assert ended.json()["state"] == "revoked"
    assert ended.json()["end_reason"] == "terminated_by_beneficiary"


def test_objection_window_delays_release_and_an_objection_stops_it(
    deal: Deal, clock: FrozenClock
) -> None:
    agreement = deal.propose(objection_window_hours=24)
    approved = deal.steward.post(
        f"/v1/agreements/{agreement['id']}/approvals", json={"decision": "approve"}
    ).json()
    assert approved["state"] == "pending" and approved["conditions_met_at"]
    deal.eco.advance(clock, hours=23)
    assert deal.content(deal.partner).status_code == 404
    objected = deal.owner_admin.post(
        f"/v1/agreements/{agreement['id']}/objections", json={"reason": "breach"}
    )
    assert objected.status_code == 201 and objected.json()["state"] == "rejected"
    deal.eco.advance(clock, hours=2)
    assert deal.content(deal.partner).status_code == 404


def test_release_takes_effect_when_the_window_ends(
    deal: Deal, clock: FrozenClock, components: Components
) -> None:
    agreement = deal.propose(objection_window_hours=24)
    deal.steward.post(f"/v1/agreements/{agreement['id']}/approvals", json={"decision": "approve"})
    deal.eco.advance(clock, hours=30)
    assert sweep(components.db, components.lifecycle) == 1
    released = deal.partner.get(f"/v1/agreements/{agreement['id']}").json()
    assert released["state"] == "released"
    met = datetime.fromisoformat(released["conditions_met_at"])
    assert datetime.fromisoformat(released["released_at"]) == met + timedelta(hours=24)
    assert (
        deal.steward.post(f"/v1/agreements/{agreement['id']}/objections", json={}).status_code
        == 409
    )


def test_attestation_is_the_escrow_trigger(deal: Deal) -> None:
    agreement = deal.propose(
        approvals={"required": 0, "from": ["owner:steward"]},
        attestation={"event": "insolvency", "by": "initech"},
    )
    assert agreement["blockers"] == ["attestation"]
    url = f"/v1/agreements/{agreement['id']}/attestations"
    assert deal.partner_admin.post(url, json={"event": "insolvency"}).status_code == 403
    wrong = deal.outsider.post(url, json={"event": "sla_breach"})
    assert wrong.status_code == 422
    attested = deal.outsider.post(url, json={"event": "insolvency", "statement": "court"})
    assert attested.status_code == 201 and attested.json()["state"] == "released"


def test_terms_are_validated(deal: Deal, clock: FrozenClock) -> None:
    url = f"/v1/datasets/{deal.dataset['id']}/agreements"
    base = {
        "beneficiary": "globex",
        "purpose": "p",
        "approvals": {"required": 1, "from": ["owner:steward"]},
    }
    cases = [
        ({"approvals": {"required": 1, "from": ["root"]}}, 422),
        ({"approvals": {"required": 1, "from": ["org:nobody:admin"]}}, 404),
        ({"beneficiary": "acme"}, 422),
        ({"beneficiary": "nobody"}, 409),
        ({"expires_at": (clock.now() - timedelta(days=1)).isoformat()}, 422),
        ({"view": {"fields": ["region", "secret"]}}, 422),
        ({"view": {"where": {"field": "region", "op": "like", "value": "E%"}}}, 422),
        ({"view": {"where": {"all": [{"field": "amount", "op": "gt", "value": "x"}]}}}, 422),
        ({"attestation": {"event": "insolvency", "by": "nobody"}}, 404),
    ]
    for change, status in cases:
        response = deal.steward.post(url, json={**base, **change})  # type: ignore[dict-item]
        assert response.status_code == status, (change, response.text)
    ok = deal.steward.post(
        url,
        json={
            **base,
            "view": {
                "fields": ["region"],
                "where": {"any": [{"field": "region", "op": "in", "value": ["EU", "US"]}]},
            },
        },
    )
    assert ok.status_code == 201


def test_a_view_needs_a_tabular_dataset(deal: Deal) -> None:
    blob = create_dataset(deal.steward, name="binary", media_type="application/octet-stream")
    response = deal.steward.post(
        f"/v1/datasets/{blob['id']}/agreements",
        json={
            "beneficiary": "globex",
            "purpose": "p",
            "view": {"fields": ["a"]},
            "approvals": {"required": 1, "from": ["owner:steward"]},
        },
    )
    assert response.status_code == 422


def test_parties_list_their_agreements_and_outsiders_see_nothing(deal: Deal) -> None:
    agreement = deal.propose()
    assert [a["id"] for a in deal.partner.get("/v1/agreements").json()["items"]] == [
        agreement["id"]
    ]
    assert deal.outsider.get("/v1/agreements").json()["items"] == []
    assert deal.outsider.get(f"/v1/agreements/{agreement['id']}").status_code == 404


SALES = (
    b'region,amount,customer\r\nEU,10,alice\r\nUS,20,bob\r\nEU,30,"carol, inc"\r\nAPAC,40,dave\r\n'
)
SALES_SCHEMA = {
    "fields": [
        {"name": "region", "type": "string"},
        {"name": "amount", "type": "number"},
        {"name": "customer", "type": "string"},
    ]
}
SALES_SHA = hashlib.sha256(SALES).hexdigest()
EU_VIEW = {
    "fields": ["region", "amount"],
    "where": {"all": [{"field": "region", "op": "eq", "value": "EU"}]},
}


def _viewed_deal(deal: Deal, view: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
    dataset = create_dataset(deal.steward, name="sales", schema=SALES_SCHEMA)
    deposit(deal.steward, dataset["id"], SALES)
    response = deal.steward.post(
        f"/v1/datasets/{dataset['id']}/agreements",
        json={
            "beneficiary": "globex",
            "purpose": "demand planning",
            "view": view,
            "approvals": {"required": 0, "from": ["owner:steward"]},
        },
    )
    agreement = response.json()
    return dataset, agreement["id"]


def test_the_partner_receives_only_the_granted_fields_and_rows(
    deal: Deal, components: Components
) -> None:
    dataset, agreement_id = _viewed_deal(deal, EU_VIEW)
    preview = deal.steward.get(f"/v1/agreements/{agreement_id}/preview")
    assert preview.status_code == 200
    assert preview.json()["rows"] == [["region", "amount"], ["EU", "10"], ["EU", "30"]]
    assert deal.partner.get(f"/v1/agreements/{agreement_id}/preview").status_code == 403
    release = deal.steward.post(f"/v1/agreements/{agreement_id}/release").json()
    assert release["release_receipt"]["view_sha256"] == preview.json()["view_sha256"]
    url = f"/v1/datasets/{dataset['id']}/versions/1/content"
    received = deal.partner.get(url)
    assert received.status_code == 200
    assert received.content == b"region,amount\r\nEU,10\r\nEU,30\r\n"
    headers = b"".join(f"{k}:{v}".encode() for k, v in received.headers.items())
    for secret in (b"customer", b"alice", b"bob", b"carol", b"US", b"APAC", b"40"):
        assert secret not in received.content
    for secret in (b"customer", b"alice", b"bob", b"carol", b"APAC", SALES_SHA.encode()):
        assert secret not in headers
    assert received.headers["etag"] != deal.steward.get(url).headers["etag"]
    assert "x-content-sha256" not in received.headers
    assert deal.partner.get(url, headers={"Range": "bytes=0-3"}).status_code == 416
    # The owner still receives the original.
    assert deal.steward.get(url).content == SALES
    with log_session(components) as session:
        [last] = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "dataset.download.view")
        )
    details = json.loads(last.entry)["details"]
    # The partner reads this event: what the view let through, not the original's row count.
    assert details["rows_returned"] == 2
    assert "rows_scanned" not in details
    assert details["view_sha256"] == preview.json()["view_sha256"]


def test_a_view_grant_hides_the_originals_size_digest_and_receipt(deal: Deal) -> None:
    dataset, agreement_id = _viewed_deal(deal, EU_VIEW)
    deal.steward.post(f"/v1/agreements/{agreement_id}/release")
    url = f"/v1/datasets/{dataset['id']}/versions"
    seen = deal.partner.get(f"{url}/1").json()
    assert seen["disclosure"] == "view"
    assert (seen["size"], seen["sha256"], seen["receipt"]) == (None, None, None)
    assert SALES_SHA not in deal.partner.get(url).text
    owned = deal.steward.get(f"{url}/1").json()
    assert (owned["disclosure"], owned["sha256"]) == ("whole", SALES_SHA)


def test_a_whole_grant_delivers_the_original(deal: Deal) -> None:
    dataset, agreement_id = _viewed_deal(deal, None)
    deal.steward.post(f"/v1/agreements/{agreement_id}/release")
    received = deal.partner.get(f"/v1/datasets/{dataset['id']}/versions/1/content")
    assert received.content == SALES
    seen = deal.partner.get(f"/v1/datasets/{dataset['id']}/versions/1").json()
    assert (seen["disclosure"], seen["sha256"]) == ("whole", SALES_SHA)


def test_parquet_views_are_served_row_group_by_row_group(deal: Deal) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "region": ["EU", "US", "EU", "APAC"] * 50,
            "amount": [10.0, 20.0, 30.0, 40.0] * 50,
            "customer": ["alice", "bob", "carol", "dave"] * 50,
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=64)
    dataset = create_dataset(
        deal.steward,
        name="sales-parquet",
        schema=SALES_SCHEMA,
        media_type="application/vnd.apache.parquet",
    )
    deal.steward.post(
        f"/v1/datasets/{dataset['id']}/versions",
        content=buffer.getvalue(),
        headers={"Content-Type": "application/vnd.apache.parquet"},
    )
    agreement = deal.steward.post(
        f"/v1/datasets/{dataset['id']}/agreements",
        json={
            "beneficiary": "globex",
            "purpose": "p",
            "view": EU_VIEW,
            "approvals": {"required": 0, "from": ["owner:steward"]},
        },
    ).json()
    deal.steward.post(f"/v1/agreements/{agreement['id']}/release")
    received = deal.partner.get(f"/v1/datasets/{dataset['id']}/versions/1/content")
    assert received.status_code == 200, received.text
    result = pq.read_table(io.BytesIO(received.content))
    assert result.column_names == ["region", "amount"]
    assert result.num_rows == 100 and set(result.column("region").to_pylist()) == {"EU"}
    assert b"alice" not in received.content and b"APAC" not in received.content


def test_a_version_the_view_cannot_apply_to_is_a_problem_not_a_cut_stream(deal: Deal) -> None:
    dataset, agreement_id = _viewed_deal(deal, EU_VIEW)
    new_schema = {"fields": [{"name": "hidden_a", "type": "string"}]}
    other = deposit(
        deal.steward,
        dataset["id"],
        b"hidden_a\nsecret1\n",
        **{"X-Dataset-Schema": json.dumps(new_schema)},
    )
    assert other.status_code == 201, other.text
    deal.steward.post(f"/v1/agreements/{agreement_id}/release")
    response = deal.partner.get(f"/v1/datasets/{dataset['id']}/versions/2/content")
    assert response.status_code == 409
    assert b"hidden" not in response.content and b"secret" not in response.content


def test_previewing_a_version_number_beyond_the_column_is_404(deal: Deal) -> None:
    """Found by the fuzzer: ?version=16815661824 overflowed PostgreSQL INTEGER (a 500)."""
    agreement_id = deal.propose()["id"]
    url = f"/v1/agreements/{agreement_id}/preview"
    response = deal.steward.get(url, params={"version": 16815661824})
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
