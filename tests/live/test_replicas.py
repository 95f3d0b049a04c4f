"""Three `escrow serve` processes on one PostgreSQL, as replicas behind a balancer: what one
changes the others enforce within a second, limits hold across them, and each periodic job runs
once per interval whoever runs it, even when that process is killed."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

from storage.models import DatasetVersion, JobTurn
from tests.fixtures.database import throwaway_database
from tests.fixtures.live import LiveServer, live_env
from tests.fixtures.softhsm import SoftHsmToken

ISSUER = "http://escrow-replicas.invalid"  # all behind one name, as behind a balancer
JOB = "agreement-sweeps"
LIMITS = {
    "ESCROW_AGREEMENT_SWEEP_INTERVAL": "1",  # the job whose turns are counted
    # Token failures: 4 at once per address, then one a minute (the key's allows more).
    "ESCROW_TOKEN_FAILURES_PER_IP": "1",
    "ESCROW_TOKEN_FAILURE_BURST_PER_IP": "4",
    "ESCROW_TOKEN_FAILURES_PER_KEY": "1",
    "ESCROW_TOKEN_FAILURE_BURST_PER_KEY": "10",
    # Failed bearer authentication: 3 at once per address, then one a minute.
    "ESCROW_AUTH_FAILURES_PER_IP": "1",
    "ESCROW_AUTH_FAILURE_BURST_PER_IP": "3",
}
_WAIT = 60.0  # seconds a condition on the replicas' real clocks may take


class Cluster:
    def __init__(self, replicas: list[LiveServer], engine: Engine, started: float) -> None:
        self.replicas = replicas
        self.engine = engine
        self.started = started  # monotonic, before the first replica started

    def turns(self) -> int:
        with self.engine.connect() as connection:
            runs = connection.scalar(select(JobTurn.runs).where(JobTurn.name == JOB))
        return int(runs or 0)

    def wait_for_turns(self, at_least: int) -> int:
        # Polling the database for a count the replicas' timers produce, not sleeping a guess.
        deadline = time.monotonic() + _WAIT
        while (runs := self.turns()) < at_least:
            assert time.monotonic() < deadline, f"{runs} turns of {JOB} after {_WAIT}s"
            time.sleep(0.2)
        return runs


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster for the module's tests: each makes its own principals and orgs, the limit
    tests call from loopback addresses of their own (their buckets are theirs alone), and
    the test that kills a replica starts it again."""
    tmp_path = tmp_path_factory.mktemp("replicas")
    with throwaway_database("escrow_replicas") as database_url:
        env = live_env(tmp_path, database_url, ESCROW_TOKEN_ISSUER=ISSUER, **LIMITS)
        replicas = [LiveServer(env, tmp_path / f"replica-{i}.log") for i in range(3)]
        engine = create_engine(database_url)
        started = time.monotonic()
        try:
            for replica in replicas:
                replica.start()
            yield Cluster(replicas, engine, started)
        finally:
            for replica in replicas:
                replica.stop()
            engine.dispose()


def _client_from(address: str) -> httpx.Client:
    """A client whose requests come from ``address`` (any 127.0.0.0/8 address is loopback)."""
    return httpx.Client(timeout=10, transport=httpx.HTTPTransport(local_address=address))


def _token(server: LiveServer, key_id: str, secret: str) -> str:
    answer = httpx.post(
        f"{server.url}/v1/auth/token", json={"key_id": key_id, "secret": secret}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _job_runs(server: LiveServer, job: str = JOB) -> dict[str, float]:
    """This replica's runs of ``job`` by outcome (ran, failed, skipped), from its /metrics."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    pattern = rf'^escrow_job_runs_total{{job="{job}",outcome="(\w+)"}} (\S+)$'
    return {outcome: float(value) for outcome, value in re.findall(pattern, text, re.M)}


def _refused_within_a_second(
    client: httpx.Client, replica: LiveServer, headers: dict[str, str], since: float
) -> httpx.Response:
    """The replica's first refusal of a token after a change answered at ``since``, which it
    must send within a second: until then it may serve the owner it remembers (escrow.auth.
    cache). Only the refusal counts against the address's failure limit."""
    while True:
        sent = time.monotonic()
        answer = client.get(f"{replica.url}/v1/auth/whoami", headers=headers)
        if answer.status_code != 200:
            assert sent - since < 1.0, f"first refused {sent - since:.2f} s after the change"
            assert answer.status_code == 401, answer.text
            return answer
        assert sent - since < 1.0, f"still served {sent - since:.2f} s after the change"


def test_a_revocation_through_one_replica_is_refused_by_the_others_within_a_second(
    cluster: Cluster,
) -> None:
    first, *others = cluster.replicas
    operator = first.bootstrap()
    token = _token(first, operator.key_id, operator.secret)
    bearer = {"Authorization": f"Bearer {token}"}
    with _client_from("127.0.0.4") as client:  # its failures count for this test alone
        for other in others:  # each remembers the token's owner
            assert client.get(f"{other.url}/v1/auth/whoami", headers=bearer).status_code == 200
        revoked = client.post(f"{first.url}/v1/auth/revoke", json={"token": token}, headers=bearer)
        assert revoked.status_code == 200, revoked.text
        since = time.monotonic()
        assert client.get(f"{first.url}/v1/auth/whoami", headers=bearer).status_code == 401
        for other in others:
            refused = _refused_within_a_second(client, other, bearer, since)
            assert refused.json()["detail"] == "access token rejected: revoked_token"


def test_a_suspension_through_one_replica_locks_the_org_out_of_the_others(
    cluster: Cluster,
) -> None:
    first, second, third = cluster.replicas
    operator = first.bootstrap()
    with _client_from("127.0.0.5") as client:  # its failures count for this test alone
        as_operator = {"Authorization": f"Bearer {_token(first, operator.key_id, operator.secret)}"}
        created = client.post(
            f"{first.url}/v1/orgs",
            json={"slug": "acme", "name": "Acme", "tier": "core"},
            headers=as_operator,
        )
        assert created.status_code == 201, created.text
        seeded = client.post(
            f"{first.url}/v1/orgs/acme/service-accounts",
            json={"name": "acme-admin", "roles": ["admin"]},
            headers=as_operator,
        ).json()["api_key"]
        admin = {"Authorization": f"Bearer {_token(second, seeded['key_id'], seeded['secret'])}"}
        assert client.get(f"{third.url}/v1/auth/whoami", headers=admin).status_code == 200
        suspended = client.post(f"{first.url}/v1/orgs/acme/suspend", headers=as_operator)
        assert suspended.status_code == 200, suspended.text
        since = time.monotonic()
        for replica in (second, third):
            refused = _refused_within_a_second(client, replica, admin, since)
            assert refused.json()["detail"] == "access token rejected: suspended_org"


def test_the_token_failure_limit_holds_across_replicas(cluster: Cluster) -> None:
    operator = cluster.replicas[0].bootstrap()
    wrong = {"key_id": operator.key_id, "secret": "not-the-secret"}
    with _client_from("127.0.0.2") as client:
        # The address's burst of 4 failures, spent across the three replicas.
        for i in range(4):
            replica = cluster.replicas[i % 3]
            assert client.post(f"{replica.url}/v1/auth/token", json=wrong).status_code == 401
        for replica in cluster.replicas:  # one process each would still allow 8 more
            refused = client.post(f"{replica.url}/v1/auth/token", json=wrong)
            assert refused.status_code == 429, refused.text
            assert int(refused.headers["retry-after"]) >= 1


def test_the_bearer_failure_limit_holds_across_replicas(cluster: Cluster) -> None:
    forged = {"Authorization": "Bearer not-a-token"}
    with _client_from("127.0.0.3") as client:

        def whoami(replica: LiveServer) -> int:
            return client.get(f"{replica.url}/v1/auth/whoami", headers=forged).status_code

        first, second, third = cluster.replicas
        assert [whoami(r) for r in (first, second, third)] == [401, 401, 401]  # the burst
        # The third failure emptied the shared bucket: that replica refuses at once; the
        # others learn it at their first failure there, and refuse from then on.
        assert [whoami(r) for r in (third, first, second)] == [429, 401, 401]
        assert [whoami(r) for r in (first, second, third)] == [429, 429, 429]


def test_each_job_runs_once_per_interval_across_the_replicas(cluster: Cluster) -> None:
    cluster.wait_for_turns(cluster.turns() + 3)  # every replica's timer has fired since
    ticks = [_job_runs(replica) for replica in cluster.replicas]  # metrics first, then turns
    runs, elapsed = cluster.turns(), time.monotonic() - cluster.started
    # A turn is due a tenth of an interval early (clock skew): at most one per 0.9 s, while
    # each of the three timers fires every second; every run some replica did took a turn.
    assert runs <= elapsed / 0.9 + 1, (runs, elapsed)
    assert all(t.get("ran", 0) + t.get("skipped", 0) >= 2 for t in ticks), ticks
    assert sum(t.get("skipped", 0) for t in ticks) >= 1, ticks
    assert sum(t.get("ran", 0) + t.get("failed", 0) for t in ticks) <= runs


def test_killing_the_replica_that_runs_a_job_hands_it_to_the_others(cluster: Cluster) -> None:
    cluster.wait_for_turns(3)
    runner = next(r for r in cluster.replicas if _job_runs(r).get("ran", 0) > 0)
    survivors = [r for r in cluster.replicas if r is not runner]
    runner.kill()  # SIGKILL: mid-run or between runs, its turn is never ended
    try:
        before = cluster.turns()
        ran_before = sum(_job_runs(r).get("ran", 0) for r in survivors)
        cluster.wait_for_turns(before + 4)
        ran_after = sum(_job_runs(r).get("ran", 0) for r in survivors)
        runs = cluster.turns()
        # Every turn since the kill was the survivors' (a run ends well within the 0.9 s before
        # the next turn, so the fourth may still be running), and none came early.
        assert 3 <= ran_after - ran_before <= runs - before + 1
        assert runs <= (time.monotonic() - cluster.started) / 0.9 + 1
    finally:
        runner.start()  # the module's cluster whole again


@pytest.fixture
def hsm_cluster(tmp_path: Path, softhsm_token: SoftHsmToken) -> Iterator[Cluster]:
    """Three replicas whose KEKs live in one PKCS#11 token (SoftHSM2), re-read every second."""
    with throwaway_database("escrow_replicas_hsm") as database_url:
        env = live_env(
            tmp_path,
            database_url,
            ESCROW_TOKEN_ISSUER=ISSUER,
            ESCROW_KEYRING=str(softhsm_token.keyring_path),
            ESCROW_KEY_MANAGER="pkcs11",
            ESCROW_PKCS11_MODULE=str(softhsm_token.module),
            ESCROW_PKCS11_TOKEN_LABEL=softhsm_token.label,
            ESCROW_PKCS11_PIN_FILE=str(softhsm_token.pin_file),
            ESCROW_KEY_RELOAD_SECONDS="1",
            **softhsm_token.env,
        )
        replicas = [LiveServer(env, tmp_path / f"replica-{i}.log") for i in range(3)]
        engine = create_engine(database_url)
        try:
            for replica in replicas:
                replica.start()
            yield Cluster(replicas, engine, time.monotonic())
        finally:
            for replica in replicas:
                replica.stop()
            engine.dispose()


def _steward(server: LiveServer, operator: dict[str, str]) -> dict[str, str]:
    created = httpx.post(
        f"{server.url}/v1/orgs",
        json={"slug": "acme", "name": "Acme", "tier": "core"},
        headers=operator,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    key = httpx.post(
        f"{server.url}/v1/orgs/acme/service-accounts",
        json={"name": "ingest", "roles": ["admin", "steward"]},
        headers=operator,
        timeout=10,
    ).json()["api_key"]
    return {"Authorization": f"Bearer {_token(server, key['key_id'], key['secret'])}"}


def _deposit(
    cluster: Cluster, server: LiveServer, steward: dict[str, str], dataset_id: str, data: bytes
) -> str:
    """Deposits ``data`` through ``server``; the KEK its data key was wrapped under."""
    answer = httpx.post(
        f"{server.url}/v1/datasets/{dataset_id}/versions",
        content=data,
        headers={**steward, "Content-Type": "text/csv"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    with cluster.engine.connect() as connection:
        return str(
            connection.scalar(
                select(DatasetVersion.kek_id).where(
                    DatasetVersion.dataset_id == dataset_id,
                    DatasetVersion.number == answer.json()["version"],
                )
            )
        )


def test_a_kek_staged_and_promoted_through_one_replica_is_used_by_the_others(
    hsm_cluster: Cluster,
) -> None:
    cluster = hsm_cluster
    first, second, third = cluster.replicas
    operator = first.bootstrap()
    as_operator = _token(first, operator.key_id, operator.secret)
    steward = _steward(first, {"Authorization": f"Bearer {as_operator}"})
    dataset = httpx.post(
        f"{second.url}/v1/datasets",
        json={"name": "q3-sales", "media_type": "text/csv"},
        headers=steward,
        timeout=10,
    ).json()
    old = _deposit(cluster, second, steward, dataset["id"], b"region,amount\nEU,10\n")
    # An operator's shell on the first replica: stage a KEK in the token, then promote it
    # and re-wrap every data key under it. The other replicas are not restarted.
    staged = re.match(r"staged KEK (kek-[0-9a-f]{8}) ", first.escrow("keys", "stage").stdout)
    assert staged is not None
    new = staged.group(1)
    assert new != old
    first.escrow("keys", "rotate", "--to", new)
    # The third replica has never seen the new KEK: it meets it on the re-wrapped version.
    content = httpx.get(
        f"{third.url}/v1/datasets/{dataset['id']}/versions/1/content", headers=steward, timeout=30
    )
    assert content.status_code == 200, content.text
    assert content.content == b"region,amount\nEU,10\n"
    # The second re-reads the token's KEKs every second: its next data keys use the new one.
    reloads = _job_runs(second, "key-reload").get("ran", 0)
    deadline = time.monotonic() + _WAIT  # polling the replica's count, not sleeping a guess
    while _job_runs(second, "key-reload").get("ran", 0) <= reloads:
        assert time.monotonic() < deadline, "the second replica never re-read its keys"
        time.sleep(0.2)
    assert _deposit(cluster, second, steward, dataset["id"], b"region,amount\nEU,20\n") == new
