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
