"""A partner organization on the session's live server, for third-party clients to use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest

from tests.fixtures.live import Credential, LiveServer, live_token


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
        account = operator.post(
            f"/v1/orgs/{slug}/service-accounts", json={"name": "ingest", "roles": ["steward"]}
        )
        assert account.status_code == 201, account.text
        key = operator.post(f"/v1/orgs/{slug}/service-accounts/{account.json()['id']}/keys")
        assert key.status_code == 201, key.text
    return Partner(slug, Credential(key.json()["key_id"], key.json()["secret"]))
