"""The live server fixture itself: a real process that serves, stops and comes back."""

from __future__ import annotations

import httpx

from tests.fixtures.live import Credential, LiveServer, live_token


def test_live_server_serves_an_authenticated_request(
    live_server: LiveServer, live_operator: Credential
) -> None:
    response = httpx.get(
        f"{live_server.url}/v1/auth/whoami", headers=live_token(live_server, live_operator)
    )
    assert response.status_code == 200
    assert response.json()["org"] == "platform"


def test_token_rate_limits_count_the_address_a_trusted_proxy_forwards(
    live_server: LiveServer,
) -> None:
    """Behind a proxy (ESCROW_FORWARDED_ALLOW_IPS), partners are told apart by X-Forwarded-For."""
    url = f"{live_server.url}/v1/auth/token"
    guess = {"key_id": "pek_doesnotexist", "secret": "pes_wrong"}

    def attempt(client_address: str) -> int:
        forwarded = {"X-Forwarded-For": client_address}
        return httpx.post(url, json=guess, headers=forwarded, timeout=10).status_code

    statuses = [attempt("203.0.113.7") for _ in range(12)]
    assert statuses[0] == 401 and statuses[-1] == 429
    assert attempt("198.51.100.9") == 401  # another partner behind the same proxy
