"""Nothing is lost or half-kept when the blob store, the database or the client fails."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from litestar import Litestar
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from escrow.components import Components
from storage.blobs import (
    BlobStore,
    BlobStoreUnavailableError,
    BlobWriter,
    LocalBlobStore,
    S3BlobStore,
)
from storage.models import AuditEvent, DatasetVersion
from tests.fixtures.audit import log_session
from tests.fixtures.datasets import Partners, create_dataset, deposit
from tests.fixtures.s3 import S3Server, new_bucket_name

MiB = 1 << 20


class FailingLocalStore(LocalBlobStore):
    """A local disk that fails (as a full or vanished volume would) after ``budget`` bytes."""

    budget = 3 * MiB

    def open_writer(self, key: str) -> BlobWriter:
        writer = super().open_writer(key)
        store, original = self, writer.write

        def write(data: bytes | memoryview) -> None:
            store.budget -= len(data)
            if store.budget < 0:
                raise BlobStoreUnavailableError("disk went away")
            original(data)

        writer.write = write  # type: ignore[method-assign]
        return writer


def _versions(components: Components) -> list[DatasetVersion]:
    with components.db.session() as session:
        return list(session.scalars(select(DatasetVersion)))


def _last_event(components: Components) -> AuditEvent:
    with log_session(components) as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert event is not None
        return event


def _chunks(total: int, on_half: object = None) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        if on_half is not None and sent >= total // 2:
            on_half()  # type: ignore[operator]
            on_half = None
        yield os.urandom(MiB)
        sent += MiB


class TestBlobStoreFailsMidUpload:
    @pytest.fixture
    def blobs(self, tmp_path: Path) -> BlobStore:
        return FailingLocalStore(tmp_path / "blobs")

    def test_local_disk_failure_is_503_and_leaves_nothing(
        self, partners: Partners, components: Components, blobs: BlobStore
    ) -> None:
        dataset = create_dataset(partners.steward, media_type="application/octet-stream")
        response = partners.steward.post(
            f"/v1/datasets/{dataset['id']}/versions", content=_chunks(8 * MiB)
        )
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        assert _versions(components) == [] and list(blobs.iter_keys()) == []
        assert not any((Path(blobs.root) / ".tmp").glob("*"))  # type: ignore[attr-defined]
        failed = _last_event(components)
        assert (failed.action, failed.outcome, failed.reason) == (
            "dataset.deposit",
            "failed",
            "blob_store_unavailable",
        )


class TestS3StopsMidUpload:
    @pytest.fixture
    def blobs(self, s3_server: S3Server) -> Iterator[BlobStore]:
        client = s3_server.client(read_timeout=3, retries=0)
        store = S3BlobStore(client, new_bucket_name(), part_size=5 * MiB)
        store.ensure_bucket()
        yield store
        s3_server.start()  # the stopped server comes back empty for the next tests

    def test_s3_server_stopped_mid_upload_is_503_and_keeps_no_version(
        self, partners: Partners, components: Components, s3_server: S3Server
    ) -> None:
        dataset = create_dataset(partners.steward, media_type="application/octet-stream")
        response = partners.steward.post(
            f"/v1/datasets/{dataset['id']}/versions",
            content=_chunks(24 * MiB, on_half=s3_server.stop),
        )
        assert response.status_code == 503, response.text
        assert _versions(components) == []
        s3_server.start()
        assert response.json()["type"].endswith("/unavailable")


@pytest.fixture
def blobs(both_stores: BlobStore) -> BlobStore:
    return both_stores


def test_database_failure_after_the_blob_is_written_removes_the_blob(
    partners: Partners, components: Components, blobs: BlobStore
) -> None:
    dataset = create_dataset(partners.steward)

    def fail(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("INSERT INTO dataset_versions"):
            raise OperationalError(statement, {}, Exception("connection reset"))

    engine = components.db.engine
    event.listen(engine, "before_cursor_execute", fail)
    try:
        response = deposit(partners.steward, dataset["id"], b"a,b\n1,2\n")
    finally:
        event.remove(engine, "before_cursor_execute", fail)
    assert response.status_code == 503
    assert _versions(components) == [] and list(blobs.iter_keys()) == []
    assert deposit(partners.steward, dataset["id"], b"a,b\n1,2\n").status_code == 201


def test_client_disconnect_mid_upload_leaves_nothing_visible(
    partners: Partners, components: Components, app: Litestar, blobs: BlobStore
) -> None:
    dataset = create_dataset(partners.steward, media_type="application/octet-stream")
    messages = [
        {"type": "http.request", "body": os.urandom(MiB), "more_body": True},
        {"type": "http.request", "body": os.urandom(MiB), "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, object]] = []

    async def receive() -> Any:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/v1/datasets/{dataset['id']}/versions",
        "raw_path": b"",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "headers": [
            (b"authorization", f"Bearer {partners.steward.token}".encode()),
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(8 * MiB).encode()),
        ],
    }

    async def call() -> None:
        async with anyio.create_task_group():
            await app(scope, receive, send)  # type: ignore[arg-type]

    anyio.run(call)  # the app's startup already ran under the test client (partners fixture)
    assert sent[0]["status"] == 400
    assert _versions(components) == [] and list(blobs.iter_keys()) == []
    failed = _last_event(components)
    assert (failed.action, failed.reason) == ("dataset.deposit", "client_disconnected")
    assert json.loads(failed.entry)["details"]["bytes_received"] == 2 * MiB
