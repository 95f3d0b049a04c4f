"""Acme escrows sales data for Globex; Globex's admin issues Delta Sharing profiles."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.datasets import create_dataset, deposit

SALES = (
    b'region,amount,customer\r\nEU,10,alice\r\nUS,20,bob\r\nEU,30,"carol, inc"\r\nAPAC,40,dave\r\n'
)
SALES_SCHEMA = {
    "fields": [
        {"name": "region", "type": "string"},
        {"name": "amount", "type": "integer"},
        {"name": "customer", "type": "string"},
    ]
}
EU_VIEW = {
    "fields": ["region", "amount"],
    "where": {"all": [{"field": "region", "op": "eq", "value": "EU"}]},
}


class Sharing:
    def __init__(self, eco: Ecosystem) -> None:
        eco.org("acme", "strategic")
        eco.org("globex", "strategic")
        eco.org("initech", "core")
        eco.partnership("acme", "globex")
        eco.partnership("acme", "initech")
        self.eco = eco
        self.steward = eco.principal("acme", "steward")
        self.partner_admin = eco.principal("globex", "admin")
        self.partner_member = eco.principal("globex", "member")
        self.outsider_admin = eco.principal("initech", "admin")

    def release(
        self,
        name: str = "q3-sales",
        data: bytes = SALES,
        view: dict[str, Any] | None = EU_VIEW,
        beneficiary: str = "globex",
        **fields: Any,
    ) -> tuple[dict[str, Any], str]:
        dataset = create_dataset(self.steward, name=name, schema=SALES_SCHEMA, **fields)
        assert deposit(self.steward, dataset["id"], data).status_code == 201
        return dataset, self.agree(dataset["id"], view, beneficiary)

    def agree(self, dataset_id: str, view: dict[str, Any] | None, beneficiary: str) -> str:
        response = self.steward.post(
            f"/v1/datasets/{dataset_id}/agreements",
            json={
                "beneficiary": beneficiary,
                "purpose": "demand planning",
                "view": view,
                "approvals": {"required": 0, "from": ["owner:steward"]},
            },
        )
        assert response.status_code == 201, response.text
        agreement_id = str(response.json()["id"])
        released = self.steward.post(f"/v1/agreements/{agreement_id}/release")
        assert released.status_code == 200, released.text
        return agreement_id

    def profile(self, admin: Caller | None = None, expires_in: int = 3600) -> dict[str, Any]:
        admin = admin or self.partner_admin
        response = admin.post(
            f"/v1/orgs/{admin.org}/sharing-profiles", json={"name": "bi", "expires_in": expires_in}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())


class Recipient:
    """Calls the protocol with a profile's bearer token, as a connector does."""

    def __init__(self, client: Any, profile: dict[str, Any]) -> None:
        self.client = client
        self.profile = profile
        self.headers = {"Authorization": f"Bearer {profile['bearerToken']}"}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(f"/delta-sharing{path}", headers=self.headers, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.client.post(f"/delta-sharing{path}", headers=self.headers, **kwargs)


@pytest.fixture
def sharing(eco: Ecosystem) -> Sharing:
    return Sharing(eco)


@pytest.fixture
def recipient(sharing: Sharing, client: Any) -> Recipient:
    return Recipient(client, sharing.profile())
