"""The `escrow` client against a real server process, as partners run it.

Login, deposit and download run as real subprocesses (`python -m escrow ...`) over real
HTTP; the other commands run in-process through click's runner against the same server.
Every organization gets a fresh slug: the live server is shared by the whole session.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from escrow.cli.client.api import Client
from escrow.cli.client.profiles import Profile, ProfileStore
from escrow.cli.main import cli
from tests.fixtures.live import Credential, LiveServer
from tests.fixtures.ports import free_port

SALES = "region,amount,customer\nEU,10,alice\nUS,20,bob\nEU,30,carol\n"


@dataclass
class Cli:
    """The client with one configuration directory (its profiles)."""

    config: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "ESCROW_PROFILE"}
        return {**env, "ESCROW_CONFIG_DIR": str(self.config), **extra}

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """A real `python -m escrow` process."""
        return subprocess.run(  # noqa: S603 - fixed argv of our own command
            [sys.executable, "-m", "escrow", *args],
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 - fixed argv of our own command
            [sys.executable, "-m", "escrow", *args],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def invoke(self, *args: str, stdin: str | None = None) -> Result:
        """In-process, through click's runner (same code, same server, no process start)."""
        env: dict[str, str | None] = {"ESCROW_CONFIG_DIR": str(self.config), "ESCROW_PROFILE": None}
        return CliRunner().invoke(cli, list(args), env=env, input=stdin)

    def json(self, *args: str) -> Any:
        result = self.invoke(*args, "--json")
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return json.loads(result.stdout)

    def login(self, server: LiveServer, credential: Credential, profile: str) -> Result:
        args = ["login", "--server", server.url, "--key-id", credential.key_id]
        return self.invoke(*args, "--profile", profile, "--secret-stdin", stdin=credential.secret)


@dataclass
class World:
    """An operator profile, and two partners each with a profile of its own."""

    cli: Cli
    server: LiveServer
    owner: str  # org slug; profile "owner" is a steward+admin of it
    partner: str  # org slug; profile "partner" is its admin, "reader" a member

    def dataset(self, content: bytes, **options: str) -> str:
        args = ["datasets", "create", f"ds-{secrets.token_hex(3)}", "--profile", "owner"]
        for name, value in options.items():
            args += [f"--{name.replace('_', '-')}", value]
        dataset_id: str = self.cli.json(*args)["id"]
        path = self.cli.config.parent / f"{dataset_id}.in"
        path.write_bytes(content)
        deposited = self.cli.invoke(
            "datasets", "deposit", dataset_id, str(path), "--profile", "owner"
        )
        assert deposited.exit_code == 0, deposited.stderr
        return dataset_id


@pytest.fixture(scope="module")
def world(
    live_server: LiveServer, live_operator: Credential, tmp_path_factory: pytest.TempPathFactory
) -> World:
    client = Cli(tmp_path_factory.mktemp("cli") / "config")
    assert client.login(live_server, live_operator, "operator").exit_code == 0
    suffix = secrets.token_hex(3)
    owner, partner = f"cli-acme-{suffix}", f"cli-globex-{suffix}"
    for slug in (owner, partner):
        client.json("orgs", "create", slug, "--name", slug, "--tier", "strategic")
    client.json("partnerships", "create", owner, partner, "--kind", "supplier")
    for profile, org, roles in (
        ("owner", owner, ["steward", "admin"]),
        ("partner", partner, ["admin"]),
        ("reader", partner, ["member"]),
    ):
        role_args = [arg for role in roles for arg in ("--role", role)]
        # The operator seeds each org's first admin (its key comes back once); the partner's
        # admin adds the reader and issues its key.
        by = ["--profile", "partner"] if profile == "reader" else []
        account = client.json("orgs", "service-accounts", "add", org, profile, *role_args, *by)
        key = account["api_key"] or client.json(
            "orgs", "service-accounts", "issue-key", org, account["id"], *by
        )
        assert (
            client.login(live_server, Credential(key["key_id"], key["secret"]), profile).exit_code
            == 0
        )
    return World(client, live_server, owner, partner)


def test_login_writes_a_private_profile_and_checks_the_key_first(
    live_server: LiveServer, live_operator: Credential, tmp_path: Path
) -> None:
    client = Cli(tmp_path / "config")
    args = ["login", "--server", live_server.url, "--key-id", live_operator.key_id]
    refused = client.run(*args, "--secret-stdin", stdin="pes_wrong\n")
    assert refused.returncode == 3 and "nothing was saved" in refused.stderr
    assert not (client.config / "profiles.toml").exists()

    done = client.run(
        *args, "--profile", "ops", "--secret-stdin", stdin=live_operator.secret + "\n"
    )
    assert done.returncode == 0, done.stderr
    path = client.config / "profiles.toml"
    assert path.stat().st_mode & 0o777 == 0o600
    assert client.config.stat().st_mode & 0o777 == 0o700
    saved = ProfileStore(client.config).get(None)
    assert (saved.name, saved.server, saved.key_id) == (
        "ops",
        live_server.url,
        live_operator.key_id,
    )
    assert saved.secret == live_operator.secret and "access_token" not in path.read_text()

    whoami = client.run("whoami", "--json")
    assert whoami.returncode == 0, whoami.stderr
    assert json.loads(whoami.stdout)["org"] == "platform"


def test_the_profile_is_chosen_by_option_or_environment(world: World) -> None:
    assert world.cli.json("whoami", "--profile", "partner")["org"] == world.partner
    chosen = CliRunner().invoke(
        cli,
        ["whoami", "--json"],
        env={"ESCROW_CONFIG_DIR": str(world.cli.config), "ESCROW_PROFILE": "owner"},
    )
    assert json.loads(chosen.stdout)["org"] == world.owner
    listed = world.cli.json("profiles")
    assert listed["default"] == "operator"
    assert {p["name"] for p in listed["profiles"]} == {"operator", "owner", "partner", "reader"}
    assert "secret" not in json.dumps(listed)
    missing = world.cli.invoke("whoami", "--profile", "nobody", "--json")
    assert missing.exit_code == 3
    assert json.loads(missing.stderr)["type"].endswith("/not-logged-in")


def test_deposit_streams_the_file_with_progress_and_is_idempotent(world: World) -> None:
    dataset_id = world.cli.json("datasets", "create", "upload", "--profile", "owner")["id"]
    path = world.cli.config.parent / "upload.bin"
    content = os.urandom(3 * 1024 * 1024 + 17)
    path.write_bytes(content)
    args = ["datasets", "deposit", dataset_id, str(path), "--profile", "owner"]
    run = world.cli.run(*args, "--progress", "--idempotency-key", f"k-{dataset_id}")
    assert run.returncode == 0, run.stderr
    assert "depositing upload.bin" in run.stderr
    assert re.search(r"3\.1/3\.1 MB", run.stderr), run.stderr  # bytes done of total
    assert re.search(r"\d+(\.\d+)? [kMG]?B/s", run.stderr), run.stderr  # the rate
    assert "Deposited version 1" in run.stdout

    again = world.cli.run(*args, "--json", "--idempotency-key", f"k-{dataset_id}")
    assert again.returncode == 0, again.stderr
    replayed = json.loads(again.stdout)
    assert replayed["replayed"] is True and replayed["version"] == 1
    assert replayed["sha256"] == hashlib.sha256(content).hexdigest()
    versions = world.cli.json("datasets", "versions", dataset_id, "--profile", "owner")
    assert [v["version"] for v in versions["items"]] == [1]


def _wait_for_bytes(part: Path, process: subprocess.Popen[bytes], at_least: int) -> None:
    # Polling a real child process's output file, not product time.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the download ended before it could be interrupted"
        if part.exists() and part.stat().st_size >= at_least:
            return
        time.sleep(0.02)
    raise AssertionError("the download never started")


def test_an_interrupted_download_resumes_with_a_range_request(world: World) -> None:
    content = os.urandom(8 * 1024 * 1024)
    dataset_id = world.dataset(content)
    target = world.cli.config.parent / f"{dataset_id}.out"
    args = ["datasets", "download", dataset_id, "-o", str(target), "--profile", "owner"]
    process = world.cli.popen(*args, "--limit-rate", "1M", "--no-progress")
    part = target.with_name(target.name + ".part")
    try:
        _wait_for_bytes(part, process, 1024 * 1024)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    kept = part.stat().st_size
    assert 0 < kept < len(content) and not target.exists()
    assert stat.S_IMODE(part.stat().st_mode) == 0o600  # plaintext: owner only

    resumed = world.cli.run(*args, "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["resumed_from"] >= kept and result["verified"] is True
    assert result["sha256"] == hashlib.sha256(content).hexdigest()
    assert target.read_bytes() == content and not part.exists()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    events = world.cli.json(
        "audit",
        "events",
        "--profile",
        "owner",
        "--all",
        "--action",
        "dataset.download",
        "--resource-id",
        dataset_id,
    )["items"]
    ranges = [json.loads(event["entry"])["details"]["range"] for event in events]
    assert ranges[-1] == [result["resumed_from"], len(content)]


def test_a_kept_prefix_that_does_not_match_is_never_trusted(world: World) -> None:
    content = os.urandom(300_000)
    dataset_id = world.dataset(content)
    digest = hashlib.sha256(content).hexdigest()
    base = ["datasets", "download", dataset_id, "--profile", "owner", "--json", "-o"]

    corrupt = world.cli.config.parent / f"{dataset_id}.corrupt"
    Path(f"{corrupt}.part").write_bytes(b"\0" * 1000)
    Path(f"{corrupt}.part.etag").write_text(f'"sha256-{digest}"\n')
    result = world.cli.invoke(*base, str(corrupt))
    assert result.exit_code == 8, result.stderr
    assert json.loads(result.stderr)["type"].endswith("/integrity-mismatch")
    assert not Path(f"{corrupt}.part").exists() and not corrupt.exists()

    stale = world.cli.config.parent / f"{dataset_id}.stale"  # bytes of another representation
    Path(f"{stale}.part").write_bytes(b"\0" * 1000)
    Path(f"{stale}.part.etag").write_text(f'"sha256-{"0" * 64}"\n')
    fresh = json.loads(world.cli.invoke(*base, str(stale)).stdout)
    assert fresh["resumed_from"] == 0 and stale.read_bytes() == content

    complete = world.cli.config.parent / f"{dataset_id}.complete"  # killed before the rename
    Path(f"{complete}.part").write_bytes(content)
    Path(f"{complete}.part.etag").write_text(f'"sha256-{digest}"\n')
    finished = json.loads(world.cli.invoke(*base, str(complete)).stdout)
    assert finished["verified"] and complete.read_bytes() == content


def test_an_agreement_releases_only_the_granted_view(world: World) -> None:
    dataset_id = _sales_dataset(world)
    where = json.dumps({"field": "region", "op": "eq", "value": "EU"})
    agreement = world.cli.json(
        "agreements",
        "create",
        dataset_id,
        "--profile",
        "owner",
        "--beneficiary",
        world.partner,
        "--purpose",
        "planning",
        "--field",
        "region",
        "--field",
        "amount",
        "--where",
        where,
    )
    assert agreement["state"] == "pending" and agreement["blockers"] == ["approvals"]
    early = world.cli.invoke("datasets", "show", dataset_id, "--profile", "partner")
    assert early.exit_code == 4
    refused = world.cli.invoke(
        "agreements", "release", agreement["id"], "--profile", "owner", "--json"
    )
    assert refused.exit_code == 5 and json.loads(refused.stderr)["blockers"] == ["approvals"]
    denied = world.cli.invoke("agreements", "approve", agreement["id"], "--profile", "partner")
    assert denied.exit_code == 6, denied.stderr

    approved = world.cli.json("agreements", "approve", agreement["id"], "--profile", "owner")
    assert approved["state"] == "released" and approved["release_receipt"]["view_sha256"]
    target = world.cli.config.parent / f"{dataset_id}.view.csv"
    download = ["datasets", "download", dataset_id, "-o", str(target), "--json"]
    viewed = json.loads(world.cli.run(*download, "--profile", "reader").stdout)
    assert viewed["view"] is True and viewed["verified"] is False
    assert target.read_bytes() == b"region,amount\r\nEU,10\r\nEU,30\r\n"

    revoked = world.cli.json("agreements", "revoke", agreement["id"], "--profile", "owner")
    assert revoked["state"] == "revoked"
    again = world.cli.invoke(*download, "--force", "--profile", "reader")
    assert again.exit_code == 4


def _sales_dataset(world: World) -> str:
    schema = world.cli.config.parent / "sales-schema.json"
    fields = [("region", "string"), ("amount", "number"), ("customer", "string")]
    schema.write_text(json.dumps({"fields": [{"name": n, "type": t} for n, t in fields]}))
    return world.dataset(SALES.encode(), media_type="text/csv", schema=str(schema))


def test_every_group_prints_parseable_json(world: World) -> None:
    dataset_id = world.dataset(b"x" * 10)
    owner_id = world.cli.json("orgs", "service-accounts", "list", world.owner)["items"][0]["id"]
    pages = [
        ("orgs", "list"),
        ("partnerships", "list"),
        ("datasets", "list", "--profile", "owner"),
        ("agreements", "list", "--profile", "owner"),
        ("audit", "events", "--limit", "2"),
        ("policy", "list"),
        ("orgs", "service-accounts", "list", world.owner),
        ("orgs", "service-accounts", "keys", world.owner, owner_id, "--limit", "1"),
    ]
    for args in pages:
        page = world.cli.json(*args)
        assert set(page) == {"items", "next_cursor"}, args
    first = world.cli.json("audit", "events", "--limit", "1")
    assert len(first["items"]) == 1 and first["next_cursor"]
    assert world.cli.json("datasets", "show", dataset_id, "--profile", "owner")["versions"] == 1
    assert world.cli.json("orgs", "show", world.owner)["slug"] == world.owner
    assert world.cli.json("policy", "show")["state"] == "active"
    key = world.cli.json("audit", "public-key")["public_key"]
    note = world.cli.json("audit", "checkpoint")["checkpoint"]
    assert note.splitlines()[0] == key.split("+")[0]  # the log's origin names the key


def test_the_exported_trail_verifies_offline(world: World) -> None:
    bundle = world.cli.config.parent / "audit.jsonl"
    exported = world.cli.json("audit", "export", "-o", str(bundle), "--profile", "owner")
    assert exported["scope"] == "org" and exported["events"] > 0
    key = world.cli.json("audit", "public-key")["public_key"]
    verified = world.cli.invoke("audit", "verify", str(bundle), "--public-key", key)
    assert verified.exit_code == 0 and f"OK {exported['events']} entries" in verified.stdout


def test_exit_codes_name_the_kind_of_failure(world: World, tmp_path: Path) -> None:
    missing = world.cli.invoke(
        "datasets", "show", "no-such-dataset", "--json", "--profile", "owner"
    )
    assert missing.exit_code == 4
    problem = json.loads(missing.stderr)
    assert problem["status"] == 404 and problem["exit_code"] == 4 and problem["request_id"]
    assert missing.stdout == ""
    denied = world.cli.invoke(
        "orgs",
        "create",
        f"x-{secrets.token_hex(3)}",
        "--name",
        "X",
        "--tier",
        "core",
        "--profile",
        "owner",
    )
    assert denied.exit_code == 6 and "Not allowed" in denied.stderr
    invalid = world.cli.invoke("orgs", "create", "Not A Slug", "--name", "X", "--tier", "core")
    assert invalid.exit_code == 2
    taken = world.cli.invoke("orgs", "create", world.owner, "--name", "X", "--tier", "core")
    assert taken.exit_code == 5

    dead = Cli(tmp_path / "dead")
    ProfileStore(dead.config).save(
        Profile("default", f"http://127.0.0.1:{free_port()}", "pek_x", "pes_x"), make_default=True
    )
    unreachable = dead.invoke("whoami", "--json")
    assert unreachable.exit_code == 7
    assert json.loads(unreachable.stderr)["type"].endswith("/unreachable")


def test_policy_push_impact_activate_and_roll_back(world: World, tmp_path: Path) -> None:
    active = world.cli.json("policy", "show")
    bundle = tmp_path / "bundle"
    for name, text in {
        **active["files"],
        **{f"tests/{n}": t for n, t in active["tests"].items()},
    }.items():
        (bundle / name).parent.mkdir(parents=True, exist_ok=True)
        (bundle / name).write_text(text)
    same = world.cli.invoke("policy", "push", str(bundle), "--json")
    assert same.exit_code == 5 and json.loads(same.stderr)["bundle_id"] == active["id"]
    with (bundle / "main.polar").open("a") as main:
        main.write(f"\n# candidate {secrets.token_hex(4)}\n")
    candidate = world.cli.json("policy", "push", str(bundle))
    assert candidate["state"] == "candidate"
    report = world.cli.json("policy", "impact", candidate["id"], "--limit", "50")
    assert report["flips"] == [] and report["active"] == active["sha256"]
    assert world.cli.json("policy", "activate", candidate["id"])["state"] == "active"
    assert world.cli.json("policy", "activate", active["id"])["state"] == "active"
    assert world.cli.json("policy", "show")["id"] == active["id"]
    refused = world.cli.invoke("policy", "push", str(bundle), "--profile", "owner")
    assert refused.exit_code == 6


def test_tokens_are_renewed_before_expiry_and_after_revocation(world: World) -> None:
    now = [0.0]
    profile = ProfileStore(world.cli.config).get("owner")
    with Client(profile, clock=lambda: now[0]) as client:
        client.text("/v1/audit/checkpoint")
        first = client.access_token
        now[0] += 3600  # past the token's lifetime: renewed before the request, no 401
        client.text("/v1/audit/checkpoint")
        second = client.access_token
        assert second != first
        client.send(
            "POST",
            "/v1/auth/revoke",
            body=lambda: json.dumps({"token": second}).encode(),
            headers={"Content-Type": "application/json"},
        )
        client.text("/v1/audit/checkpoint")  # 401 for the revoked token, then a new one
        assert client.access_token not in (first, second)


def test_the_demo_runs_a_whole_escrow(world: World) -> None:
    run = world.cli.run("demo", "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["download"]["columns"] == ["region", "amount"]
    assert summary["download"]["rows"] == 3 and "customer" not in summary["download"]["content"]
    assert summary["audit"]["events"] == summary["audit"]["tree_size"] > 0
    assert summary["overlaps"] == {
        "count": 2,
        "keys": ["initech.example", "umbrella.example"],
        "fields": ["name"],
    }
    assert [step["title"] for step in summary["steps"]][-1] == "Audit"
    refused = world.cli.invoke("demo", "--profile", "partner")
    assert refused.exit_code == 6 and "operator" in refused.stderr


@pytest.fixture(autouse=True)
def _no_stray_profile(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("ESCROW_PROFILE", raising=False)
    yield
