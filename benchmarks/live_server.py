"""A real `escrow serve` process on a free port with a fresh data dir, for benchmarks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ESCROW = str(Path(sys.executable).with_name("escrow"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    operator_token: str

    def peak_rss_mib(self) -> float:
        """The server's high-water resident set size (VmHWM), in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def token_for(self, key_id: str, secret: str) -> str:
        response = httpx.post(
            f"{self.url}/v1/auth/token", json={"key_id": key_id, "secret": secret}
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=600
        )


@contextmanager
def live_server(extra_env: dict[str, str] | None = None) -> Iterator[LiveServer]:
    with tempfile.TemporaryDirectory(prefix="escrow-bench-") as data_dir:
        port = free_port()
        env = {
            **os.environ,
            "ESCROW_DATA_DIR": data_dir,
            "ESCROW_BIND": f"127.0.0.1:{port}",
            **(extra_env or {}),
        }
        subprocess.run([ESCROW, "db", "upgrade"], env=env, check=True, capture_output=True)
        boot = subprocess.run(
            [ESCROW, "bootstrap", "--json"], env=env, check=True, capture_output=True
        )
        credential = json.loads(boot.stdout)
        process = subprocess.Popen(
            [ESCROW, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(url)
            server = LiveServer(url, env, process, "")
            server.operator_token = server.token_for(credential["key_id"], credential["secret"])
            yield server
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become ready")


def partner_steward(server: LiveServer, slug: str = "bench") -> httpx.Client:
    """An org with a steward service account; returns a client authenticated as it."""
    with server.client(server.operator_token) as operator:
        operator.post("/v1/orgs", json={"slug": slug, "name": slug, "tier": "core"})
        # The operator seeds the org's first admin (with its key); the admin adds the steward.
        seeded = operator.post(
            f"/v1/orgs/{slug}/service-accounts", json={"name": "bench-admin", "roles": ["admin"]}
        ).json()["api_key"]
    with server.client(server.token_for(seeded["key_id"], seeded["secret"])) as admin:
        account = admin.post(
            f"/v1/orgs/{slug}/service-accounts", json={"name": "bench", "roles": ["steward"]}
        ).json()
        key = admin.post(f"/v1/orgs/{slug}/service-accounts/{account['id']}/keys").json()
    return server.client(server.token_for(key["key_id"], key["secret"]))


def release_view(steward: httpx.Client, dataset: str, beneficiary: str, view: object) -> str:
    """Agrees ``view`` of the dataset with ``beneficiary`` and releases it at once (no
    approvals required); returns the agreement's id."""
    agreement = steward.post(
        f"/v1/datasets/{dataset}/agreements",
        json={
            "beneficiary": beneficiary,
            "purpose": "benchmark",
            "view": view,
            "approvals": {"required": 0, "from": ["owner:steward"]},
        },
    )
    agreement.raise_for_status()
    agreement_id = str(agreement.json()["id"])
    steward.post(f"/v1/agreements/{agreement_id}/release").raise_for_status()
    return agreement_id


def account_token(server: LiveServer, operator: httpx.Client, org: str, role: str) -> str:
    """A token of a service account with ``role`` in ``org``; the operator seeds the org's
    first admin, which adds any other role."""
    seeded = operator.post(
        f"/v1/orgs/{org}/service-accounts", json={"name": "admin", "roles": ["admin"]}
    ).json()["api_key"]
    admin_token = server.token_for(seeded["key_id"], seeded["secret"])
    if role == "admin":
        return str(admin_token)
    with server.client(admin_token) as admin:
        account = admin.post(
            f"/v1/orgs/{org}/service-accounts", json={"name": role, "roles": [role]}
        ).json()
        key = admin.post(f"/v1/orgs/{org}/service-accounts/{account['id']}/keys").json()
    return str(server.token_for(key["key_id"], key["secret"]))
