"""Tabular datasets through HTTP: schema inference, schema changes, Parquet out, bad tables."""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select, update

from escrow.components import Components
from storage.models import AuditEvent, DatasetVersion
from tests.api.agreements.test_agreements import Deal
from tests.fixtures.api import Ecosystem
from tests.fixtures.audit import log_session
from tests.fixtures.datasets import create_dataset, deposit

SALES = b"region,amount,customer\r\nEU,10,alice\r\nUS,20,bob\r\nEU,30.5,carol\r\n"
EU_VIEW = {
    "fields": ["region", "amount"],
    "where": {"all": [{"field": "region", "op": "eq", "value": "EU"}]},
}


@pytest.fixture
def deal(eco: Ecosystem) -> Deal:
    return Deal(eco)


def _grant(deal: Deal, dataset_id: str, view: dict[str, Any] | None) -> Any:
    return deal.steward.post(
        f"/v1/datasets/{dataset_id}/agreements",
        json={
            "beneficiary": "globex",
            "purpose": "demand planning",
            "view": view,
            "approvals": {"required": 0, "from": ["owner:steward"]},
        },
    )


def test_a_dataset_without_schema_takes_a_view_once_its_first_csv_is_deposited(
    deal: Deal,
) -> None:
    """DESIGN section 10: no schema typed, a CSV with a header, a view by field names."""
    dataset = create_dataset(deal.steward, name="sales")
    assert dataset["schema"] is None
    assert deposit(deal.steward, dataset["id"], SALES).status_code == 201
    seen = deal.steward.get(f"/v1/datasets/{dataset['id']}").json()
    assert seen["schema"] == {
        "fields": [
            {"name": "region", "type": "string"},
            {"name": "amount", "type": "number"},
            {"name": "customer", "type": "string"},
        ]
    }
    response = _grant(deal, dataset["id"], EU_VIEW)
    assert response.status_code == 201, response.text
    deal.steward.post(f"/v1/agreements/{response.json()['id']}/release")
    received = deal.partner.get(f"/v1/datasets/{dataset['id']}/versions/1/content")
    assert received.status_code == 200
    assert received.content == b"region,amount\r\nEU,10\r\nEU,30.5\r\n"


def test_a_second_version_with_another_schema_is_refused_and_nothing_is_kept(
    deal: Deal, components: Components
) -> None:
    dataset = create_dataset(deal.steward, name="sales")
    deposit(deal.steward, dataset["id"], SALES)
    response = deposit(deal.steward, dataset["id"], b"region,amount,vip\r\nEU,high,true\r\n")
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/schema-mismatch")
    assert problem["differences"] == [
        "column 'customer' is missing",
        "column 'vip' is not in the schema",
        "column 'amount' is number in the schema but holds values that are not",
    ]
    assert "high" not in response.text
    versions = deal.steward.get(f"/v1/datasets/{dataset['id']}/versions").json()["items"]
    assert [v["version"] for v in versions] == [1]
    with log_session(components) as session:
        reasons = session.scalars(
            select(AuditEvent.reason).where(
                AuditEvent.action == "dataset.deposit", AuditEvent.outcome == "failed"
            )
        ).all()
    assert reasons == ["schema_mismatch"]


def test_a_declared_schema_replaces_the_datasets(deal: Deal) -> None:
    dataset = create_dataset(deal.steward, name="sales")
    deposit(deal.steward, dataset["id"], SALES)
    declared = {"fields": [{"name": "region", "type": "string"}, {"name": "n", "type": "integer"}]}
    header = {"X-Dataset-Schema": json.dumps(declared)}
    response = deposit(deal.steward, dataset["id"], b"region,n\nEU,1\n", **header)
    assert response.status_code == 201, response.text
    assert deal.steward.get(f"/v1/datasets/{dataset['id']}").json()["schema"] == declared
    contradicting = deposit(deal.steward, dataset["id"], b"region,n\nEU,1.5\n", **header)
    assert contradicting.status_code == 422
    assert contradicting.json()["differences"] == [
        "column 'n' is integer in the schema but holds number values"
    ]
    bad = deposit(deal.steward, dataset["id"], b"region,n\nEU,1\n", **{"X-Dataset-Schema": "{"})
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"region,amount\nEU,10\nUS\n", "malformed rows"),  # ragged
        (b"region,amount\nEU,\xff\xfe\n", "not utf-8"),
        (b"region,region\nEU,US\n", "duplicate column names"),
        (b'region,amount\nEU,"10\n', "unterminated quote"),
    ],
)
def test_a_malformed_table_is_refused_whole(deal: Deal, body: bytes, reason: str) -> None:
    dataset = create_dataset(deal.steward, name="bad")
    response = deposit(deal.steward, dataset["id"], body)
    assert response.status_code == 422
    assert response.json()["type"].endswith("/malformed-table")
    assert response.json()["reason"] == reason
    assert deal.steward.get(f"/v1/datasets/{dataset['id']}/versions").json()["items"] == []
    assert deal.steward.get(f"/v1/datasets/{dataset['id']}").json()["schema"] is None


def test_a_value_contradicting_the_declared_type_is_refused(deal: Deal) -> None:
    schema = {"fields": [{"name": "region", "type": "string"}, {"name": "day", "type": "date"}]}
    dataset = create_dataset(deal.steward, name="typed", schema=schema)
    response = deposit(deal.steward, dataset["id"], b"region,day\nEU,2024-01-31\nUS,soon\n")
    assert response.status_code == 422
    assert response.json()["differences"] == [
        "column 'day' is date in the schema but holds values that are not"
    ]
    assert "soon" not in response.text


def test_format_parquet_converts_owner_downloads_and_views(deal: Deal) -> None:
    dataset = create_dataset(deal.steward, name="sales")
    deposit(deal.steward, dataset["id"], SALES)
    url = f"/v1/datasets/{dataset['id']}/versions/1/content"
    owned = deal.steward.get(url, params={"format": "parquet"})
    assert owned.status_code == 200
    assert owned.headers["content-type"].startswith("application/vnd.apache.parquet")
    table = pq.read_table(io.BytesIO(owned.content))
    assert table.schema.field("amount").type == pa.float64()
    assert table.to_pylist()[2] == {"region": "EU", "amount": 30.5, "customer": "carol"}
    assert (
        deal.steward.get(
            url, params={"format": "parquet"}, headers={"Range": "bytes=0-3"}
        ).status_code
        == 416
    )
    agreement = _grant(deal, dataset["id"], EU_VIEW).json()
    deal.steward.post(f"/v1/agreements/{agreement['id']}/release")
    viewed = deal.partner.get(url, params={"format": "parquet"})
    assert viewed.status_code == 200
    assert pq.read_table(io.BytesIO(viewed.content)).to_pylist() == [
        {"region": "EU", "amount": 10.0},
        {"region": "EU", "amount": 30.5},
    ]
    assert b"alice" not in viewed.content and b"US" not in viewed.content
    assert deal.steward.get(url, params={"format": "xml"}).status_code == 400


def test_a_version_deposited_before_checks_is_refused_before_any_byte_of_a_view(
    deal: Deal, components: Components
) -> None:
    """Issue 13 item 8: a record over the reader's block would cut the stream after its 200."""
    dataset = create_dataset(deal.steward, name="sales")
    deposit(deal.steward, dataset["id"], SALES)
    agreement = _grant(deal, dataset["id"], EU_VIEW).json()
    deal.steward.post(f"/v1/agreements/{agreement['id']}/release")
    with components.db.session() as session:  # what an unchecked deposit recorded
        session.execute(
            update(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset["id"])
            .values(attestation={"format": "csv", "error": "record too large"})
        )
        session.commit()
    response = deal.partner.get(f"/v1/datasets/{dataset['id']}/versions/1/content")
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert b"alice" not in response.content and b"EU" not in response.content
