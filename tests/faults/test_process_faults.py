"""Real processes go away mid-request: the S3 server, PostgreSQL, the API itself.

Every test runs its own ``escrow serve`` process (a LiveServer on its own database) and
talks to it over HTTP as partners do. After each fault the same checks hold: the API
answered 503 (never 500) while a dependency was down and recovered without a restart; no
version row exists without its blob and no partial blob is visible; the audit log has one
event per action (found by the X-Request-ID each request carries) with no gap and no
duplicate, and its full export verifies offline with ``escrow audit verify``.

How each dependency "goes away":

- **S3**: the API's S3 endpoint is a TCP relay process (tests/fixtures/tcp_proxy.py) in
  front of moto, and the relay is SIGKILLed. To the API that is the S3 host dying: the
  connections in flight are cut and new ones are refused. Stopping moto itself would do
  the same but lose every object (it keeps them in memory), and SIGSTOP (S3Server.pause)
  only makes calls time out; the relay gives a real outage that comes back with the data.
- **PostgreSQL**: a private server (tests/fixtures/postgres_instance.py, initdb into a
  temporary directory) stopped and started with ``pg_ctl -m fast``, which aborts open
  transactions and terminates their connections. The machine's shared server is never
  touched. To stop it *during* a release, the test holds the audit log's head row lock
  from a side connection, so the approval's transaction waits inside its audit append
  (after its decision row is written) until the server goes down.
- **The API**: SIGKILL while a deposit streams, then a restart on the same data.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import psycopg
import pytest
from minio import Minio

from storage.blobs import LocalBlobStore
from tests.fixtures.api import Caller, Ecosystem, token_for
from tests.fixtures.database import throwaway_database, waiting_on_a_lock
from tests.fixtures.datasets import sha256
from tests.fixtures.live import LiveServer, live_env
from tests.fixtures.postgres_instance import PostgresInstance
from tests.fixtures.s3 import S3Server, new_bucket_name, pending_uploads
from tests.fixtures.tcp_proxy import TcpProxy

MiB = 1 << 20
UNAVAILABLE = "https://partner-escrow.dev/problems/unavailable"
CSV = b"region,amount\nEU,10\nUS,20\n"
_POLL = 30.0  # seconds to wait for a child process to reach a state


@dataclass
class Stack:
    """A live server and an ecosystem built on it over HTTP: Acme deposits, Globex receives."""

    server: LiveServer
    eco: Ecosystem
    steward: Caller
    tmp_path: Path

    @property
    def http(self) -> httpx.Client:
        return cast(httpx.Client, self.eco.client)

    def ready(self) -> int:
        return self.http.get("/health/ready").status_code

    def dataset(self, media_type: str = "text/csv") -> str:
        body = {"name": "feed", "media_type": media_type, "labels": []}
        response = self.steward.post("/v1/datasets", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def deposit(self, dataset_id: str, body: Any, request_id: str, **headers: str) -> Any:
        return self.steward.post(
            f"/v1/datasets/{dataset_id}/versions",
            content=body,
            headers={"X-Request-ID": request_id, **headers},
        )

    def versions(self, dataset_id: str) -> list[dict[str, Any]]:
        response = self.steward.get(f"/v1/datasets/{dataset_id}/versions")
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    def audit_log(self) -> list[dict[str, Any]]:
        """The whole log, verified offline; fails on any gap, duplicate or bad entry."""
        response = self.eco.operator.get("/v1/audit/export")
        assert response.status_code == 200, response.text
        bundle, key = self.tmp_path / "audit.jsonl", self.tmp_path / "audit.key"
        bundle.write_bytes(response.content)
        key.write_text(self.http.get("/v1/audit/public-key").text)
        verified = self.server.escrow(
            "audit", "verify", str(bundle), "--public-key", str(key), check=False
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr
        lines = [json.loads(line) for line in response.content.splitlines()]
        events = [json.loads(line["entry"]) for line in lines[1:-1]]
        assert [event["seq"] for event in events] == list(range(len(events)))
        once = Counter(
            (e["request_id"], e["action"], e["resource"]["type"], e["resource"]["id"])
            for e in events
        )
        assert [dup for dup, count in once.items() if count > 1] == []
        released = Counter(
            e["resource"]["id"] for e in events if e["action"] == "agreement.release"
        )
        assert [dup for dup, count in released.items() if count > 1] == []
        return events


def of_request(events: list[dict[str, Any]], request_id: str) -> list[tuple[str, str, Any]]:
    return [
        (e["action"], e["outcome"], e["reason"]) for e in events if e["request_id"] == request_id
    ]


def build_stack(server: LiveServer, tmp_path: Path) -> Stack:
    http = cast(Any, httpx.Client(base_url=server.url, timeout=60))  # Caller takes any client
    credential = server.bootstrap()
    operator = Caller(
        http,
        credential.key_id,
        credential.secret,
        token_for(http, credential.key_id, credential.secret),
        "platform",
    )
    eco = Ecosystem(http, operator)
    eco.org("acme", "strategic")
    eco.org("globex", "strategic")
    eco.partnership("acme", "globex")
    return Stack(server, eco, eco.principal("acme", "steward"), tmp_path)


def wait_until(condition: Any, what: str) -> None:
    # Polling child processes (the server, PostgreSQL), not waiting on product time.
    deadline = time.monotonic() + _POLL
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def assert_unavailable(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == UNAVAILABLE and response.headers["retry-after"]


def random_body(total: int, at: int = -1, before: Any = None) -> Iterator[bytes]:
    """``total`` bytes in 1 MiB chunks (streamed, chunked); ``before()`` runs before byte ``at``."""
    sent = 0
    while sent < total:
        if sent == at:
            before()
        yield os.urandom(MiB)
        sent += MiB


# ---------------------------------------------------------------------------------- S3


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("moto-faults") / "moto.log")
    server.start()
    yield server
    server.stop()


@dataclass
class S3Stack(Stack):
    proxy: TcpProxy
    bucket: str
    direct: Minio  # straight to moto, past the relay: what S3 really holds

    def objects(self) -> list[str]:
        return [str(o.object_name) for o in self.direct.list_objects(self.bucket, recursive=True)]

    def restore(self) -> None:
        self.proxy.start()
        wait_until(lambda: self.ready() == 200, "the API to see S3 again")


@pytest.fixture
def s3_stack(moto: S3Server, tmp_path: Path) -> Iterator[S3Stack]:
    proxy = TcpProxy(moto.port, tmp_path / "proxy.log")
    bucket = new_bucket_name()
    with throwaway_database("escrow_faults") as database_url:
        env = live_env(
            tmp_path / "data",
            database_url,
            ESCROW_BLOB_URL=f"s3://{bucket}",
            ESCROW_S3_ENDPOINT=proxy.endpoint,
            ESCROW_S3_ACCESS_KEY=moto.access_key,
            ESCROW_S3_SECRET_KEY=moto.secret_key,
            ESCROW_S3_REGION=moto.region,
            ESCROW_S3_SECURE="false",
        )
        server = LiveServer(env, tmp_path / "api.log")
        try:
            proxy.start()
            server.start()
            base = build_stack(server, tmp_path)
            yield S3Stack(**vars(base), proxy=proxy, bucket=bucket, direct=moto.client())
            base.http.close()
        finally:
            server.stop()
            proxy.stop()


def test_s3_gone_mid_upload_is_503_keeps_nothing_and_the_retry_succeeds(
    s3_stack: S3Stack,
) -> None:
    stack = s3_stack
    dataset_id = stack.dataset("application/octet-stream")

    def cut_once_a_part_is_in_flight() -> None:
        wait_until(lambda: pending_uploads(stack.direct, stack.bucket), "a multipart upload")
        stack.proxy.stop()

    failed = stack.deposit(
        dataset_id,
        random_body(40 * MiB, at=24 * MiB, before=cut_once_a_part_is_in_flight),
        "fault-deposit",
        **{"Idempotency-Key": "feed-2026-11-23"},
    )
    assert_unavailable(failed)
    assert stack.ready() == 503
    assert_unavailable(stack.deposit(dataset_id, b"x" * 100, "down-deposit"))
    assert stack.versions(dataset_id) == []
    assert stack.objects() == []  # the parts sent before the cut are not an object

    stack.restore()
    data = os.urandom(20 * MiB)
    retried = stack.deposit(
        dataset_id, data, "retry-deposit", **{"Idempotency-Key": "feed-2026-11-23"}
    )
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    again = stack.deposit(dataset_id, data, "replay", **{"Idempotency-Key": "feed-2026-11-23"})
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert [v["sha256"] for v in stack.versions(dataset_id)] == [sha256(data)]
    content = stack.steward.get(f"/v1/datasets/{dataset_id}/versions/1/content")
    assert content.status_code == 200 and sha256(content.content) == sha256(data)
    assert len(stack.objects()) == 1

    events = stack.audit_log()
    assert of_request(events, "fault-deposit") == [
        ("dataset.deposit", "failed", "blob_store_unavailable")
    ]
    assert of_request(events, "down-deposit") == []  # refused before any byte was taken
    assert of_request(events, "retry-deposit") == [("dataset.deposit", "success", None)]
    assert of_request(events, "replay") == []
    assert events[retried.json()["receipt"]["audit_index"]]["request_id"] == "retry-deposit"


def test_s3_gone_mid_download_cuts_the_stream_and_never_serves_wrong_bytes(
    s3_stack: S3Stack,
) -> None:
    stack = s3_stack
    dataset_id = stack.dataset("application/octet-stream")
    data = os.urandom(32 * MiB)
    assert stack.deposit(dataset_id, data, "deposit").status_code == 201
    url = f"/v1/datasets/{dataset_id}/versions/1/content"

    stack.proxy.stop()
    assert_unavailable(stack.steward.get(url, headers={"X-Request-ID": "before-first-byte"}))
    assert stack.ready() == 503
    stack.restore()

    received = bytearray()
    headers = {**stack.steward.headers, "X-Request-ID": "cut-download"}
    with stack.http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        chunks = response.iter_bytes()
        while len(received) < MiB:
            received += next(chunks)
        stack.proxy.stop()
        with pytest.raises(httpx.TransportError):  # the body ends short of Content-Length
            for chunk in chunks:
                received += chunk
    assert 0 < len(received) < len(data)
    assert received == data[: len(received)]  # a prefix of the deposit: never a wrong byte

    stack.restore()
    whole = stack.steward.get(url, headers={"X-Request-ID": "full-download"})
    assert whole.status_code == 200
    assert sha256(whole.content) == whole.headers["x-content-sha256"] == sha256(data)

    events = stack.audit_log()
    assert of_request(events, "before-first-byte") == []
    assert of_request(events, "cut-download") == [("dataset.download", "success", None)]
    assert of_request(events, "full-download") == [("dataset.download", "success", None)]


# -------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_stack(private_postgres: PostgresInstance, tmp_path: Path) -> Iterator[Stack]:
    if not (private_postgres.data_dir / "postmaster.pid").exists():
        private_postgres.start()  # an earlier test failed while the server was down
    name = f"escrow_{tmp_path.name.lower().replace('-', '_')[:40]}"
    url = private_postgres.create_database(name)
    server = LiveServer(live_env(tmp_path / "data", url), tmp_path / "api.log")
    try:
        server.start()
        stack = build_stack(server, tmp_path)
        yield stack
        stack.http.close()
    finally:
        server.stop()


def propose(stack: Stack, dataset_id: str) -> str:
    body = {
        "beneficiary": "globex",
        "purpose": "demand planning",
        "approvals": {"required": 1, "from": ["owner:steward"]},
    }
    response = stack.steward.post(f"/v1/datasets/{dataset_id}/agreements", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def approve(stack: Stack, agreement_id: str, request_id: str) -> Any:
    return stack.steward.post(
        f"/v1/agreements/{agreement_id}/approvals",
        json={"decision": "approve", "reason": "ok"},
        headers={"X-Request-ID": request_id},
    )


def test_postgres_stopped_during_a_release_fails_cleanly_and_the_api_recovers(
    pg_stack: Stack, private_postgres: PostgresInstance
) -> None:
    stack = pg_stack
    dataset_id = stack.dataset()
    assert stack.deposit(dataset_id, CSV, "deposit").status_code == 201
    agreement_id = propose(stack, dataset_id)
    database_url = stack.server.env["ESCROW_DATABASE_URL"].replace("+psycopg", "")

    holder = psycopg.connect(database_url)  # holds the audit head: appends wait behind it
    holder.execute("SELECT size FROM audit_head WHERE id = 1 FOR UPDATE")
    outcome: list[Any] = []
    approval = threading.Thread(
        target=lambda: outcome.append(approve(stack, agreement_id, "fault-approve"))
    )
    approval.start()
    wait_until(lambda: waiting_on_a_lock(database_url), "the release to wait on the audit head")
    private_postgres.stop("fast")
    approval.join(timeout=_POLL)
    holder.close()
    assert_unavailable(outcome[0])

    assert stack.ready() == 503
    assert_unavailable(stack.steward.get(f"/v1/agreements/{agreement_id}"))
    assert_unavailable(stack.http.post("/v1/auth/token", json={"key_id": "k", "secret": "s"}))
    private_postgres.start()
    wait_until(lambda: stack.ready() == 200, "the API to reconnect")
    assert stack.server.running  # the same process: nobody restarted it

    pending = stack.steward.get(f"/v1/agreements/{agreement_id}").json()
    assert (pending["state"], pending["decisions"]) == ("pending", [])
    with ThreadPoolExecutor(8) as pool:  # every pooled connection died with the server
        reads = list(pool.map(lambda _: stack.steward.get("/v1/datasets"), range(24)))
    assert {r.status_code for r in reads} == {200}
    released = approve(stack, agreement_id, "retry-approve")
    assert released.status_code == 201, released.text
    assert released.json()["state"] == "released"

    events = stack.audit_log()
    assert of_request(events, "fault-approve") == []  # rolled back with its decision
    assert of_request(events, "retry-approve") == [
        ("agreement.approve", "success", None),
        ("agreement.release", "success", None),
    ]
    receipt = released.json()["release_receipt"]
    assert events[receipt["audit_index"]]["action"] == "agreement.release"


def test_postgres_restarted_under_retried_releases_releases_each_exactly_once(
    pg_stack: Stack, private_postgres: PostgresInstance
) -> None:
    """Clients retry 503s through a restart; an attempt whose commit landed but whose answer
    was lost shows up as a 409 on the retry, never as a second approval or release."""
    stack = pg_stack
    dataset_id = stack.dataset()
    assert stack.deposit(dataset_id, CSV, "deposit").status_code == 201
    agreements = [propose(stack, dataset_id) for _ in range(24)]
    first_answers = threading.Semaphore(0)

    def approve_until_settled(index: int) -> list[int]:
        statuses: list[int] = []
        while not statuses or statuses[-1] == 503:
            assert len(statuses) < 200, statuses  # bounded: the restart takes about a second
            if statuses:
                time.sleep(0.05)  # a client's back-off while the server recovers
            statuses.append(
                approve(stack, agreements[index], f"{index}-{len(statuses)}").status_code
            )
            first_answers.release()
        return statuses

    with ThreadPoolExecutor(4) as pool:
        settled = pool.map(approve_until_settled, range(len(agreements)))
        for _ in range(4):
            first_answers.acquire()
        private_postgres.restart("fast")
        attempts = list(settled)
    assert any(503 in statuses for statuses in attempts), attempts
    assert all(statuses[-1] in (201, 409) for statuses in attempts), attempts

    events = stack.audit_log()
    for index, agreement_id in enumerate(agreements):
        state = stack.steward.get(f"/v1/agreements/{agreement_id}").json()["state"]
        assert state == "released"
        mine = [e for e in events if e["resource"]["id"] == agreement_id]
        actions = Counter(e["action"] for e in mine)
        assert actions == {"agreement.create": 1, "agreement.approve": 1, "agreement.release": 1}
        by = {e["request_id"] for e in mine if e["action"] != "agreement.create"}
        assert len(by) == 1  # approval and release landed in one transaction
        (winner,) = by
        tries = attempts[index]
        if tries[-1] == 201:  # the last attempt succeeded, so it is the one recorded
            assert winner == f"{index}-{len(tries) - 1}"
        else:  # 409: an earlier attempt answered 503 yet committed
            assert tries[int(winner.split("-")[1])] == 503


# ------------------------------------------------------------------------------ the API


@pytest.fixture
def local_stack(tmp_path: Path) -> Iterator[Stack]:
    with throwaway_database("escrow_faults") as database_url:
        server = LiveServer(live_env(tmp_path / "data", database_url), tmp_path / "api.log")
        try:
            server.start()
            stack = build_stack(server, tmp_path)
            yield stack
            stack.http.close()
        finally:
            server.stop()


def test_api_killed_mid_deposit_keeps_nothing_and_the_retry_lands_once(
    local_stack: Stack,
) -> None:
    stack = local_stack
    tmp = stack.tmp_path / "data" / "blobs"
    blobs = LocalBlobStore(tmp)
    dataset_id = stack.dataset("application/octet-stream")

    def kill_once_ciphertext_is_on_disk() -> None:
        wait_until(
            lambda: any(p.stat().st_size > MiB for p in (tmp / ".tmp").glob("*.part")),
            "the upload to reach the disk",
        )
        stack.server.kill()

    with pytest.raises(httpx.TransportError):
        stack.deposit(
            dataset_id,
            random_body(32 * MiB, at=8 * MiB, before=kill_once_ciphertext_is_on_disk),
            "killed-deposit",
            **{"Idempotency-Key": "nightly-42"},
        )
    stack.server.start()

    assert stack.versions(dataset_id) == []
    assert list(blobs.iter_keys()) == []  # the partial upload is not a blob
    assert len(list((tmp / ".tmp").glob("*.part"))) == 1
    swept = stack.server.escrow("storage", "gc", "--grace", "0")
    assert "0 orphan blobs; 1 stale temp files" in swept.stdout
    assert list((tmp / ".tmp").glob("*")) == []

    data = os.urandom(3 * MiB)
    first = stack.deposit(dataset_id, data, "retry-deposit", **{"Idempotency-Key": "nightly-42"})
    second = stack.deposit(dataset_id, data, "replay", **{"Idempotency-Key": "nightly-42"})
    assert (first.status_code, second.status_code) == (201, 201), first.text
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json()["receipt"] == first.json()["receipt"]
    assert [v["version"] for v in stack.versions(dataset_id)] == [1]
    assert len(list(blobs.iter_keys())) == 1
    content = stack.steward.get(f"/v1/datasets/{dataset_id}/versions/1/content")
    assert sha256(content.content) == sha256(data)

    events = stack.audit_log()
    assert of_request(events, "killed-deposit") == []  # died before anything was recorded
    assert of_request(events, "retry-deposit") == [("dataset.deposit", "success", None)]
    assert of_request(events, "replay") == []
