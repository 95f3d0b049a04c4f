"""The processes a load run needs: a throwaway PostgreSQL database, moto as the S3 server,
and ``escrow serve`` replicas sharing one keyring, all on 127.0.0.1 and all removed after.

``load_stack(replicas)`` yields a Stack: the replicas' URLs and a bootstrap operator key.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from live_server import ESCROW, free_port

ADMIN_URL = os.environ.get(
    "ESCROW_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
S3_KEY = "load-testing"  # moto accepts any credentials
BUCKET = "escrow-load"
_START_TIMEOUT = 60.0


@dataclass(frozen=True)
class Stack:
    urls: list[str]
    key_id: str
    secret: str
    logs: list[Path]
    database_url: str
    pids: dict[str, int]  # process name -> pid, for CPU accounting


@contextmanager
def throwaway_database() -> Iterator[str]:
    name = f"escrow_load_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def child(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process logging to ``log``; terminated (then killed) on the way out."""
    with log.open("ab") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the S3 server exited; see {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {_START_TIMEOUT}s; see {log}")


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"escrow serve exited; see {log}")
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} was not ready after {_START_TIMEOUT}s; see {log}")


@contextmanager
def load_stack(replicas: int, keep_logs: Path | None = None, workers: int = 1) -> Iterator[Stack]:
    """PostgreSQL database + moto + ``replicas`` API processes on one data dir and keyring,
    each serving with ``workers`` worker processes."""
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="escrow-load-")))
        logs: list[Path] = []
        if keep_logs is not None:  # runs after every process below has stopped
            stack.callback(_copy_logs, logs, keep_logs)
        database_url = stack.enter_context(throwaway_database())
        s3_port = free_port()
        moto_log = root / "moto.log"
        logs.append(moto_log)
        moto = stack.enter_context(
            child(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
                dict(os.environ),
                moto_log,
            )
        )
        wait_listening(s3_port, moto, moto_log)
        env = {
            **os.environ,
            "ESCROW_DATA_DIR": str(root / "data"),
            "ESCROW_DATABASE_URL": database_url,
            "ESCROW_BLOB_URL": f"s3://{BUCKET}",
            "ESCROW_S3_ENDPOINT": f"127.0.0.1:{s3_port}",
            "ESCROW_S3_ACCESS_KEY": S3_KEY,
            "ESCROW_S3_SECRET_KEY": S3_KEY,
            "ESCROW_S3_REGION": "us-east-1",
            "ESCROW_S3_SECURE": "false",
            # Replicas behind one name: a token any of them issued is good at every other.
            "ESCROW_TOKEN_ISSUER": "http://escrow-load.invalid",
            "ESCROW_WORKERS": str(workers),
        }
        subprocess.run([ESCROW, "db", "upgrade"], env=env, check=True, capture_output=True)
        boot = subprocess.run(
            [ESCROW, "bootstrap", "--json"], env=env, check=True, capture_output=True
        )
        credential = json.loads(boot.stdout)
        urls: list[str] = []
        pids = {"moto": moto.pid}
        for index in range(replicas):
            port = free_port()
            log = root / f"api-{index}.log"
            process = stack.enter_context(
                child([ESCROW, "serve"], {**env, "ESCROW_BIND": f"127.0.0.1:{port}"}, log)
            )
            url = f"http://127.0.0.1:{port}"
            wait_ready(url, process, log)
            urls.append(url)
            logs.append(log)
            pids[f"api-{index}"] = process.pid
        yield Stack(urls, credential["key_id"], credential["secret"], logs, database_url, pids)


def _copy_logs(logs: list[Path], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for log in logs:
        shutil.copy(log, target / log.name)
