"""Deliveries from a live server, verified by the Standard Webhooks reference library.

Issue 19: ``standardwebhooks`` could not verify them (own headers, the secret used as text,
the message id not signed). Here the receiver is a partner's: it knows only its secret.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks import Webhook

from tests.fixtures.database import throwaway_database
from tests.fixtures.live import LiveServer, live_env, live_token
from tests.fixtures.webhook_receiver import WebhookReceiver, running_receiver


def _wait_for(what: str, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    # Polling a child process's deliveries to a receiver thread, not waiting on product time.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_reference_library_verifies_deliveries_through_a_rotation(tmp_path: Path) -> None:
    with (
        throwaway_database("escrow_interop_hooks") as database_url,
        running_receiver() as receiver,
    ):
        env = live_env(
            tmp_path / "data",
            database_url,
            ESCROW_WEBHOOK_INTERVAL="1",
            ESCROW_WEBHOOK_ALLOW_HTTP="true",
            ESCROW_WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
        )
        server = LiveServer(env, tmp_path / "server.log")
        server.start()
        try:
            _deliver_and_rotate(server, receiver)
        finally:
            server.stop()


def _deliver_and_rotate(server: LiveServer, receiver: WebhookReceiver) -> None:
    with httpx.Client(
        base_url=server.url, headers=live_token(server, server.bootstrap()), timeout=30
    ) as operator:

        def call(path: str, **body: Any) -> Any:
            response = operator.post(path, json=body or None)
            assert response.status_code < 300, response.text
            return response.json()

        call("/v1/orgs", slug="acme", name="Acme", tier="core")
        webhook = call("/v1/orgs/acme/webhooks", url=receiver.url)
        hook = f"/v1/orgs/acme/webhooks/{webhook['id']}"
        queued = call(hook + "/ping")
        _wait_for("the ping", lambda: len(receiver.received) == 1)
        first = receiver.received[0]
        event = Webhook(webhook["secret"]).verify(first.body, first.headers)
        assert event["type"] == "ping" and first.header("webhook-id") == queued["event_id"]

        new = call(hook + "/rotate-secret", grace_seconds=3600)["secret"]
        call(hook + "/ping")
        _wait_for("the second ping", lambda: len(receiver.received) == 2)
        second = receiver.received[1]
        assert second.header("webhook-signature").count("v1,") == 2
        for secret in (webhook["secret"], new):  # a receiver holding either one verifies
            assert Webhook(secret).verify(second.body, second.headers)["type"] == "ping"
