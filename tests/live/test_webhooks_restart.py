"""Webhooks from a real ``escrow serve`` process that is stopped and started between attempts.

The receiver fails twice, then succeeds; the server is stopped after each failed attempt is
recorded and started again. The event must arrive exactly once successfully, signed with the
secret issued before the restarts, and the deliveries list must show every attempt.
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

BACKOFF = 5  # seconds: longer than it takes to see an attempt and stop the server


def _wait_for(what: str, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    # Polling a child process and a receiver thread, not waiting on product time.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Partner:
    """Calls the live server as a partner's systems do."""

    def __init__(self, server: LiveServer, headers: dict[str, Any]) -> None:
        self.server = server
        self.headers = headers

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = httpx.request(
            method, self.server.url + path, headers=headers, timeout=30, **kwargs
        )
        assert response.status_code < 300, response.text
        return response.json()


def _steward(server: LiveServer, operator: Partner) -> Partner:
    account = operator.call(
        "POST", "/v1/orgs/acme/service-accounts", json={"name": "ingest", "roles": ["steward"]}
    )
    key = operator.call("POST", f"/v1/orgs/acme/service-accounts/{account['id']}/keys")
    token = httpx.post(
        server.url + "/v1/auth/token",
        json={"key_id": key["key_id"], "secret": key["secret"]},
        timeout=10,
    )
    token.raise_for_status()
    return Partner(server, {"Authorization": f"Bearer {token.json()['access_token']}"})


def _received(receiver: WebhookReceiver, count: int) -> Callable[[], bool]:
    return lambda: len(receiver.received) == count


def _attempts_recorded(operator: Partner, deliveries: str, count: int) -> Callable[[], bool]:
    def recorded() -> bool:
        items = operator.call("GET", deliveries)["items"]
        return len(items) == 1 and len(items[0]["attempts"]) == count

    return recorded


def test_a_delivery_survives_restarts_and_arrives_once(tmp_path: Path) -> None:
    with (
        throwaway_database("escrow_webhooks") as database_url,
        running_receiver([500, 500]) as receiver,
    ):
        env = live_env(
            tmp_path / "data",
            database_url,
            ESCROW_WEBHOOK_INTERVAL="1",
            ESCROW_WEBHOOK_BACKOFF_SECONDS=str(BACKOFF),
            ESCROW_WEBHOOK_BACKOFF_MAX_SECONDS=str(BACKOFF),
            ESCROW_WEBHOOK_MAX_ATTEMPTS="5",
            ESCROW_WEBHOOK_TIMEOUT="5",
            ESCROW_WEBHOOK_ALLOW_HTTP="true",
            ESCROW_WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
        )
        server = LiveServer(env, tmp_path / "server.log")
        server.start()
        try:
            _run(server, receiver)
            assert "Traceback" not in server.log()
        except BaseException:
            print(server.log())  # the server's side of a failure, in pytest's report
            raise
        finally:
            server.stop()


def _run(server: LiveServer, receiver: WebhookReceiver) -> None:
    operator = Partner(server, live_token(server, server.bootstrap()))
    operator.call("POST", "/v1/orgs", json={"slug": "acme", "name": "Acme", "tier": "core"})
    webhook = operator.call(
        "POST",
        "/v1/orgs/acme/webhooks",
        json={"url": receiver.url, "events": ["dataset.deposit_received"]},
    )
    deliveries = f"/v1/orgs/acme/webhooks/{webhook['id']}/deliveries"
    steward = _steward(server, operator)
    dataset = steward.call(
        "POST", "/v1/datasets", json={"name": "q3-sales", "media_type": "text/csv"}
    )
    steward.call(
        "POST",
        f"/v1/datasets/{dataset['id']}/versions",
        content=b"region,amount\nEU,10\n",
        headers={"Content-Type": "text/csv"},
    )
    for failed in (1, 2):
        _wait_for(f"attempt {failed}", _received(receiver, failed))
        _wait_for(f"attempt {failed} recorded", _attempts_recorded(operator, deliveries, failed))
        server.stop()
        assert len(receiver.received) == failed
        server.start()
    _wait_for("the third attempt", lambda: len(receiver.received) == 3)
    _wait_for("its result", _attempts_recorded(operator, deliveries, 3))
    # Three more runs of the job: nothing else may arrive.
    time.sleep(3.5)  # a real process's schedule; there is no clock to move here
    assert [r.answered for r in receiver.received] == [500, 500, 200]
    assert len({r.header("escrow-event-id") for r in receiver.received}) == 1
    assert len({r.header("escrow-delivery-id") for r in receiver.received}) == 1
    assert [r.header("escrow-delivery-attempt") for r in receiver.received] == ["1", "2", "3"]
    delivered = receiver.received[-1]
    assert delivered.event["type"] == "dataset.deposit_received"
    assert delivered.event["data"]["dataset"]["id"] == dataset["id"]
    # The reference library verifies against its own clock, as a partner's receiver does.
    assert Webhook(webhook["secret"]).verify(delivered.body, delivered.headers) == delivered.event
    [row] = operator.call("GET", deliveries)["items"]
    assert row["status"] == "delivered" and row["attempt_count"] == 3
    assert [a["outcome"] for a in row["attempts"]] == ["failed", "failed", "delivered"]
    assert [a["status_code"] for a in row["attempts"]] == [500, 500, 200]
    assert operator.call("GET", deliveries, params={"status": "pending"})["items"] == []
