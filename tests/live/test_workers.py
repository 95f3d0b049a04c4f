"""`escrow serve --workers N`: N processes on one bind, one database, one set of metrics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from escrow.cli.main import cli
from tests.fixtures.database import throwaway_database
from tests.fixtures.live import LiveServer, live_env, live_token

REQUESTS = 40


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[LiveServer]:
    with throwaway_database("escrow_workers") as database_url:
        metrics = tmp_path / "metrics"
        metrics.mkdir()
        env = live_env(
            tmp_path, database_url, ESCROW_WORKERS="2", PROMETHEUS_MULTIPROC_DIR=str(metrics)
        )
        server = LiveServer(env, tmp_path / "server.log")
        server.start()
        try:
            yield server
        finally:
            server.stop()


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    found = []
    for task in tasks.iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def test_two_workers_serve_one_bind_and_metrics_add_up(two_workers: LiveServer) -> None:
    supervisor = two_workers.pid
    workers = [
        child
        for child in _children(supervisor)
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]
    assert len(workers) == 2, workers
    # Each worker keeps its series in the shared directory; /metrics adds them up.
    metrics = Path(two_workers.env["PROMETHEUS_MULTIPROC_DIR"])
    assert set(workers) <= {int(f.stem.rsplit("_", 1)[1]) for f in metrics.glob("counter_*.db")}
    headers = live_token(two_workers, two_workers.bootstrap())
    with httpx.Client(base_url=two_workers.url, headers=headers, timeout=10) as client:
        for _ in range(REQUESTS):
            assert client.get("/v1/auth/whoami").status_code == 200
        text = client.get("/metrics").text
    served = sum(
        float(count)
        for count in re.findall(
            r'^escrow_http_request_duration_seconds_count\{[^}]*route="/v1/auth/whoami"[^}]*\}'
            r" ([0-9.e+]+)$",
            text,
            re.MULTILINE,
        )
    )
    assert served == REQUESTS  # whichever worker answered, /metrics counts every request


def test_more_than_one_worker_needs_postgresql(tmp_path: Path) -> None:
    env = {"ESCROW_DATA_DIR": str(tmp_path), "ESCROW_DATABASE_URL": "", "ESCROW_WORKERS": ""}
    result = CliRunner().invoke(cli, ["serve", "--workers", "2"], env=env)
    assert result.exit_code == 1
    assert "--workers above 1 needs PostgreSQL" in result.output
