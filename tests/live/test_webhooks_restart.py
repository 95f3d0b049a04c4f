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

PENDING = {"status": "pending"}
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
    """Acme's first admin (an admin is also a steward), seeded by the operator with its key."""
    account = operator.call(
        "POST",
        "/v1/orgs/acme/service-accounts",
        json={"name": "ingest", "roles": ["admin", "steward"]},
    )
    key = account["api_key"]
    token = httpx.post(
        server.url + "/v1/auth/token",
        json={"key_id": key["key_id"], "secret": key["secret"]},
        timeout=10,
    )
    token.raise_for_status()
    return Partner(server, {"Authorization": f"Bearer {token.json()['access_token']}"})


def _deposit(steward: Partner, dataset_id: str, data: bytes) -> None:
    steward.call(
        "POST",
        f"/v1/datasets/{dataset_id}/versions",
        content=data,
        headers={"Content-Type": "text/csv"},
    )


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
    _deposit(steward, dataset["id"], b"region,amount\nEU,10\n")
    for failed in (1, 2):
        _wait_for(f"attempt {failed}", _received(receiver, failed))
        _wait_for(f"attempt {failed} recorded", _attempts_recorded(operator, deliveries, failed))
        server.stop()
        assert len(receiver.received) == failed
        server.start()
    _wait_for("the third attempt", lambda: len(receiver.received) == 3)
    _wait_for("its result", _attempts_recorded(operator, deliveries, 3))
    # A later event is the barrier: once it has arrived the job has run again after the
    # third attempt, and a delivered event that came back would have come back by then.
    _deposit(steward, dataset["id"], b"region,amount\nUS,20\n")
    _wait_for("the later event", lambda: len(receiver.received) >= 4)
    _wait_for("its result", lambda: not operator.call("GET", deliveries, params=PENDING)["items"])
    first, later = receiver.received[:3], receiver.received[3:]
    assert [r.answered for r in first] == [500, 500, 200]
    assert len({r.header("escrow-event-id") for r in first}) == 1
    assert len({r.header("escrow-delivery-id") for r in first}) == 1
    assert [r.header("escrow-delivery-attempt") for r in first] == ["1", "2", "3"]
    assert [r.header("escrow-delivery-attempt") for r in later] == ["1"]
    assert later[0].header("escrow-event-id") != first[0].header("escrow-event-id")
    delivered = first[-1]
    assert delivered.event["type"] == "dataset.deposit_received"
    assert delivered.event["data"]["dataset"]["id"] == dataset["id"]
    # The reference library verifies against its own clock, as a partner's receiver does.
    assert Webhook(webhook["secret"]).verify(delivered.body, delivered.headers) == delivered.event
    rows = operator.call("GET", deliveries)["items"]
    [row] = [r for r in rows if r["attempt_count"] == 3]
    assert len(rows) == 2 and row["status"] == "delivered"
    assert [a["outcome"] for a in row["attempts"]] == ["failed", "failed", "delivered"]
    assert [a["status_code"] for a in row["attempts"]] == [500, 500, 200]
