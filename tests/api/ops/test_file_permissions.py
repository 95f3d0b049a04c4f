"""The embedded deployment keeps its files owner-only, and the CLI's downloads are private:
the database holds wrapped keys and audit secrets, a download is plaintext."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from escrow.app import build_components, create_app
from escrow.cli.client.download import PartFile
from escrow.clock import FrozenClock
from escrow.config import load_settings
from escrow.orgs.bootstrap import bootstrap
from storage.db import Database
from tests.fixtures.api import Caller, Ecosystem, token_for
from tests.fixtures.datasets import create_dataset, deposit


@pytest.fixture
def shared_umask() -> Iterator[None]:
    """The usual umask, under which files are world-readable unless created private."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_embedded_deployment_keeps_its_files_owner_only(
    tmp_path: Path, keyring_path: Path, clock: FrozenClock, shared_umask: None
) -> None:
    data = tmp_path / "data"
    settings = load_settings(
        {
            "ESCROW_DATA_DIR": str(data),
            "ESCROW_KEYRING": str(keyring_path),
            "ESCROW_CHECKPOINT_INTERVAL": "0",
            "ESCROW_AGREEMENT_SWEEP_INTERVAL": "0",
            "ESCROW_WEBHOOK_INTERVAL": "0",
        }
    )
    db = Database(settings.database_url)
    try:
        db.upgrade()
        components = build_components(settings, clock=clock, db=db)
        with TestClient(app=create_app(components), raise_server_exceptions=False) as client:
            created = bootstrap(
                components.db, components.audit, components.clock, components.new_id
            )
            token = token_for(client, created.key_id, created.secret)
            eco = Ecosystem(
                client, Caller(client, created.key_id, created.secret, token, "platform")
            )
            eco.org("acme")
            steward = eco.principal("acme", "steward")
            dataset = create_dataset(steward)
            assert deposit(steward, dataset["id"], b"region,amount\nEU,1\n").status_code == 201
    finally:
        db.dispose()
    assert _mode(data) == 0o700
    database = data / "escrow.db"
    for name in ("escrow.db", "escrow.db-wal", "escrow.db-shm"):
        path = database.with_name(name)
        if name == "escrow.db" or path.exists():
            assert _mode(path) == 0o600, name
    blobs = data / "blobs"
    assert _mode(blobs) == 0o700
    stored = [p for p in blobs.rglob("*") if p.is_file()]
    assert stored and all(_mode(p) & 0o077 == 0 for p in stored)
    assert all(_mode(p) == 0o700 for p in blobs.rglob("*") if p.is_dir())


def test_an_existing_world_readable_database_is_tightened(
    tmp_path: Path, shared_umask: None
) -> None:
    path = tmp_path / "old" / "escrow.db"
    path.parent.mkdir()
    path.touch(mode=0o644)
    db = Database(f"sqlite:///{path}")
    try:
        db.upgrade()
    finally:
        db.dispose()
    assert _mode(path) == 0o600


def test_a_cli_download_part_and_its_file_are_owner_only(
    tmp_path: Path, shared_umask: None
) -> None:
    target = tmp_path / "out.csv"
    part = PartFile(target)
    part.path.write_bytes(b"left by an older client")
    part.path.chmod(0o644)
    part.restart(None)
    assert _mode(part.path) == 0o600 and part.path.read_bytes() == b""
    with part.path.open("ab") as sink:
        sink.write(b"plaintext")
    part.finish()
    assert _mode(target) == 0o600 and target.read_bytes() == b"plaintext"
