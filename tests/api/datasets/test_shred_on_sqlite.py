"""Shredding on the embedded SQLite deployment leaves no copy of a wrapped key on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from escrow.app import build_components, create_app
from escrow.clock import FrozenClock
from escrow.components import Components
from escrow.config import load_settings
from escrow.orgs.bootstrap import bootstrap
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import DatasetVersion
from tests.fixtures.api import Caller, Ecosystem, token_for
from tests.fixtures.datasets import create_dataset, deposit


@pytest.fixture
def sqlite(tmp_path: Path, keyring_path: Path, clock: FrozenClock) -> Iterator[Components]:
    env = {
        "ESCROW_DATA_DIR": str(tmp_path / "data"),
        "ESCROW_KEYRING": str(keyring_path),
        "ESCROW_CHECKPOINT_INTERVAL": "0",
        "ESCROW_AGREEMENT_SWEEP_INTERVAL": "0",
        "ESCROW_WEBHOOK_INTERVAL": "0",
    }
    settings = load_settings(env)
    db = Database(settings.database_url)
    try:
        db.upgrade()
        yield build_components(
            settings, clock=clock, db=db, blobs=LocalBlobStore(tmp_path / "blobs")
        )
    finally:
        db.dispose()


@pytest.fixture
def eco(sqlite: Components) -> Iterator[Ecosystem]:
    with TestClient(app=create_app(sqlite), raise_server_exceptions=False) as client:
        created = bootstrap(sqlite.db, sqlite.audit, sqlite.clock, sqlite.new_id)
        token = token_for(client, created.key_id, created.secret)
        yield Ecosystem(client, Caller(client, created.key_id, created.secret, token, "platform"))


def _on_disk(components: Components, needle: bytes) -> list[str]:
    """The database's files (db, WAL, shared memory, journal) that hold ``needle``."""
    path = Path(components.settings.database_url.split("///", 1)[1])
    files = [path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))]
    return [f.name for f in files if f.exists() and needle in f.read_bytes()]


def test_shredding_on_sqlite_leaves_no_wrapped_key_in_the_db_or_wal(
    eco: Ecosystem, sqlite: Components
) -> None:
    eco.org("acme")
    steward = eco.principal("acme", "steward")
    admin = eco.principal("acme", "admin")
    dataset = create_dataset(steward)
    for data in (b"region,amount\nEU,10\n", b"region,amount\nUS,20\n"):
        assert deposit(steward, dataset["id"], data).status_code == 201
    with sqlite.db.session() as session:
        wrapped = list(session.scalars(select(DatasetVersion.wrapped_dek)))
    assert len(wrapped) == 2 and all(wrapped)
    needles = [str(w).encode() for w in wrapped]
    assert all(_on_disk(sqlite, needle) for needle in needles)  # the scan finds them
    response = admin.delete(f"/v1/datasets/{dataset['id']}")
    assert response.status_code == 200, response.text
    for needle in needles:
        assert _on_disk(sqlite, needle) == []
    wal = Path(sqlite.settings.database_url.split("///", 1)[1] + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
