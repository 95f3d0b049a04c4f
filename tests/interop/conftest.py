"""Partners on a live ``escrow serve`` process (OAuth clients, Delta Sharing recipients).

Every test builds its own organizations (fresh slugs): the live server is shared by the
whole session.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures.live import Credential, LiveServer, live_token

SCHEMA = {
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


class Party:
    """A service account of one organization, calling /v1 with its own token."""

    def __init__(self, http: httpx.Client, org: str, token: str) -> None:
        self.http, self.org = http, org
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = self.http.request(method, path, headers=headers, **kwargs)
        assert response.status_code == expect, response.text
        return response


class Partners:
    """Owner (with a steward), beneficiary and outsider (each with an admin)."""

    def __init__(self, server: LiveServer, operator: Credential, http: httpx.Client) -> None:
        self.server, self.http = server, http
        suffix = secrets.token_hex(4)
        self.owner, self.beneficiary, self.outsider = (
            f"{n}-{suffix}" for n in ("acme", "globex", "initech")
        )
        op = Party(http, "platform", live_token(server, operator)["Authorization"].split()[1])
        for slug in (self.owner, self.beneficiary, self.outsider):
            op.call("POST", "/v1/orgs", 201, json={"slug": slug, "name": slug, "tier": "core"})
        for partner in (self.beneficiary, self.outsider):
            op.call(
                "POST",
                "/v1/partnerships",
                201,
                json={"orgs": [self.owner, partner], "kind": "supplier"},
            )
        # The operator seeds each organization's first admin; that admin creates the rest.
        owner_admin = self._account(op, self.owner, "admin")
        self.steward = self._account(owner_admin, self.owner, "steward")
        self.partner_admin = self._account(op, self.beneficiary, "admin")
        self.outsider_admin = self._account(op, self.outsider, "admin")

    def _account(self, by: Party, org: str, role: str) -> Party:
        created = by.call(
            "POST", f"/v1/orgs/{org}/service-accounts", 201, json={"name": role, "roles": [role]}
        ).json()
        key = created["api_key"] or (
            by.call("POST", f"/v1/orgs/{org}/service-accounts/{created['id']}/keys", 201).json()
        )
        token = self.http.post(
            "/v1/auth/token", json={"key_id": key["key_id"], "secret": key["secret"]}
        ).json()["access_token"]
        return Party(self.http, org, token)

    def release(
        self,
        name: str,
        data: bytes,
        media_type: str = "text/csv",
        view: dict[str, Any] | None = EU_VIEW,
        schema: dict[str, Any] | None = SCHEMA,
    ) -> tuple[str, str]:
        """A dataset with one version, released under ``view`` to the beneficiary."""
        body = {"name": name, "media_type": media_type, "schema": schema}
        dataset = self.steward.call("POST", "/v1/datasets", 201, json=body).json()["id"]
        self.deposit(dataset, data, media_type)
        agreement = self.steward.call(
            "POST",
            f"/v1/datasets/{dataset}/agreements",
            201,
            json={
                "beneficiary": self.beneficiary,
                "purpose": "analytics",
                "view": view,
                "approvals": {"required": 0, "from": ["owner:steward"]},
            },
        ).json()["id"]
        self.steward.call("POST", f"/v1/agreements/{agreement}/release")
        return dataset, agreement

    def deposit(self, dataset: str, data: bytes, media_type: str = "text/csv") -> None:
        self.steward.call(
            "POST",
            f"/v1/datasets/{dataset}/versions",
            201,
            content=data,
            headers={"Content-Type": media_type},
        )

    def profile(self, admin: Party, path: Path) -> Path:
        """The profile file, saved as a recipient would save it."""
        created = admin.call(
            "POST",
            f"/v1/orgs/{admin.org}/sharing-profiles",
            201,
            json={"name": "bi", "expires_in": 86400},
        )
        path.write_text(json.dumps(created.json()))
        return path


@pytest.fixture
def live_http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        yield client


@pytest.fixture
def partners(
    live_server: LiveServer, live_operator: Credential, live_http: httpx.Client
) -> Partners:
    return Partners(live_server, live_operator, live_http)


@dataclass(frozen=True)
class Partner:
    org: str
    credential: Credential  # a steward service account's API key: an OAuth client


@pytest.fixture
def partner(live_server: LiveServer, live_operator: Credential) -> Partner:
    """A fresh organization per test (the live server is shared by the session)."""
    slug = f"interop-{uuid.uuid4().hex[:8]}"
    with httpx.Client(
        base_url=live_server.url, headers=live_token(live_server, live_operator), timeout=10
    ) as operator:
        created = operator.post("/v1/orgs", json={"slug": slug, "name": slug, "tier": "core"})
        assert created.status_code == 201, created.text
        # The operator seeds the organization's first admin; that admin creates the steward.
        seeded = operator.post(
            f"/v1/orgs/{slug}/service-accounts", json={"name": "admin", "roles": ["admin"]}
        )
        assert seeded.status_code == 201, seeded.text
        admin_key = seeded.json()["api_key"]
    admin = Credential(admin_key["key_id"], admin_key["secret"])
    with httpx.Client(
        base_url=live_server.url, headers=live_token(live_server, admin), timeout=10
    ) as admin_client:
        account = admin_client.post(
            f"/v1/orgs/{slug}/service-accounts", json={"name": "ingest", "roles": ["steward"]}
        )
        assert account.status_code == 201, account.text
        key = admin_client.post(f"/v1/orgs/{slug}/service-accounts/{account.json()['id']}/keys")
        assert key.status_code == 201, key.text
    return Partner(slug, Credential(key.json()["key_id"], key.json()["secret"]))
