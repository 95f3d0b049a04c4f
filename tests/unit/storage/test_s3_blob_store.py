"""S3BlobStore beyond the shared contract: multipart uploads, prefixes, unavailability."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path

import pytest

from storage.blobs import (
    BlobStore,
    BlobStoreConfigError,
    BlobStoreUnavailableError,
    S3BlobStore,
    open_blob_store,
)
from storage.blobs.s3 import MIN_PART_SIZE
from tests.fixtures.ports import free_port
from tests.fixtures.s3 import S3Server, new_bucket_name, pending_uploads
from tests.unit.storage.blob_helpers import MiB, payload, read_all, uneven, write_blob

pytestmark = pytest.mark.s3


def test_upload_spanning_several_parts_round_trips(s3_store: S3BlobStore) -> None:
    data = payload(12 * MiB + 3)
    assert write_blob(s3_store, "big", data) == len(data)
    etag = s3_store.client.stat_object(s3_store.bucket, "big").etag
    assert etag is not None
    assert etag.endswith("-3")  # a multipart upload of three 5 MiB-or-less parts
    assert read_all(s3_store, "big") == data
    assert read_all(s3_store, "big", 5 * MiB - 2, 4) == data[5 * MiB - 2 : 5 * MiB + 2]


def test_abort_mid_upload_aborts_the_multipart_upload(s3_store: S3BlobStore) -> None:
    store = S3BlobStore(s3_store.client, s3_store.bucket, part_size=MIN_PART_SIZE, buffer_size=MiB)
    writer = store.open_writer("k")
    # With a 1 MiB pipe, these writes can only return once part 1 has been uploaded.
    for _ in range(10):
        writer.write(payload(MiB))
    assert [name for name, _ in pending_uploads(store.client, store.bucket)] == ["k"]
    writer.abort()
    assert pending_uploads(store.client, store.bucket) == []
    assert not store.exists("k")


def test_prefix_keeps_a_store_to_its_own_keys(s3_store: S3BlobStore) -> None:
    tenant = S3BlobStore(s3_store.client, s3_store.bucket, prefix="escrow/")
    write_blob(tenant, "datasets/d/v1.bin", b"inside")
    write_blob(s3_store, "elsewhere", b"outside")
    assert list(tenant.iter_keys()) == ["datasets/d/v1.bin"]
    assert set(s3_store.iter_keys()) == {"escrow/datasets/d/v1.bin", "elsewhere"}
    assert read_all(s3_store, "escrow/datasets/d/v1.bin") == b"inside"
    assert not tenant.exists("elsewhere")


def test_objects_not_named_like_keys_are_not_listed(s3_store: S3BlobStore) -> None:
    write_blob(s3_store, "ours", b"x")
    s3_store.client.put_object(s3_store.bucket, ".foreign", BytesIO(b"x"), 1)
    assert list(s3_store.iter_keys()) == ["ours"]


def test_part_size_below_the_s3_minimum_is_rejected(s3_store: S3BlobStore) -> None:
    with pytest.raises(ValueError, match="part_size"):
        S3BlobStore(s3_store.client, s3_store.bucket, part_size=MIN_PART_SIZE - 1)


def test_ensure_bucket_is_idempotent(s3_server: S3Server) -> None:
    store = S3BlobStore(s3_server.client(), new_bucket_name())
    with pytest.raises(BlobStoreUnavailableError, match="does not exist"):
        store.check()
    with pytest.raises(BlobStoreConfigError, match="does not exist"):
        store.open_writer("k")
    store.ensure_bucket()
    store.ensure_bucket()
    store.check()
    store.client.remove_bucket(store.bucket)


def test_upload_fails_cleanly_when_the_backend_dies(tmp_path: Path) -> None:
    server = S3Server(tmp_path / "moto.log")  # its own server: this test kills it
    server.start()
    try:
        store = S3BlobStore(
            server.client(), new_bucket_name(), part_size=MIN_PART_SIZE, buffer_size=MiB
        )
        store.ensure_bucket()
        threads_before = threading.active_count()
        writer = store.open_writer("k")
        writer.write(payload(MiB))
        server.stop()
        with pytest.raises(BlobStoreUnavailableError, match="cannot upload blob 'k'"):
            for _ in range(10):  # the first part's upload fails, then the pipe closes
                writer.write(payload(MiB))
            writer.commit()
        writer.abort()  # nothing left to do, and no error
        assert threading.active_count() == threads_before
        with pytest.raises(ValueError, match="already failed"):
            writer.commit()
    finally:
        server.stop()


def unreachable_store() -> BlobStore:
    return open_blob_store(
        "s3://escrow-blobs",
        s3_endpoint=f"127.0.0.1:{free_port()}",
        s3_access_key="testing",
        s3_secret_key="testing",
        s3_region="us-east-1",
        s3_secure=False,
    )


def test_unreachable_backend_is_unavailable_quickly() -> None:
    store = unreachable_store()
    started = time.monotonic()
    operations: dict[str, Callable[[], object]] = {
        "check": store.check,
        "open_writer": lambda: store.open_writer("k"),
        "read": lambda: store.read("k"),
        "size": lambda: store.size("k"),
        "exists": lambda: store.exists("k"),
        "delete": lambda: store.delete("k"),
        "iter_keys": lambda: list(store.iter_keys()),
    }
    for name, operation in operations.items():
        with pytest.raises(BlobStoreUnavailableError):
            operation()
        assert time.monotonic() - started < 10, name


def test_backend_that_stops_answering_times_out_as_unavailable(s3_server: S3Server) -> None:
    store = S3BlobStore(s3_server.client(read_timeout=0.5, retries=0), new_bucket_name())
    s3_server.pause()
    try:
        with pytest.raises(BlobStoreUnavailableError, match="timed out"):
            store.check()
    finally:
        s3_server.resume()


class _ServiceUnavailable(BaseHTTPRequestHandler):
    """Answers every request like an overloaded S3 node."""

    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b"<Error><Code>ServiceUnavailable</Code><Message>Please reduce your request rate."
        b"</Message></Error>"
    )

    def _answer(self) -> None:
        self.send_response(503)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(self.body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output clean


@pytest.fixture
def overloaded_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ServiceUnavailable)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_backend_answering_5xx_is_unavailable(overloaded_endpoint: str) -> None:
    store = open_blob_store(
        "s3://escrow-blobs",
        s3_endpoint=overloaded_endpoint,
        s3_access_key="testing",
        s3_secret_key="testing",
        s3_region="us-east-1",
        s3_secure=False,
    )
    for operation in (store.check, lambda: store.read("k"), lambda: store.open_writer("k")):
        with pytest.raises(BlobStoreUnavailableError):
            operation()


def test_store_opened_from_a_url_works_end_to_end(s3_server: S3Server) -> None:
    bucket = new_bucket_name()
    store = open_blob_store(
        f"s3://{bucket}/escrow",
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_region=s3_server.region,
        s3_secure=False,
    )
    assert isinstance(store, S3BlobStore)
    store.ensure_bucket()
    data = payload(MiB)
    with store.open_writer("datasets/d/v1.bin") as writer:
        for chunk in uneven(data):
            writer.write(chunk)
        writer.commit()
    assert read_all(store, "datasets/d/v1.bin") == data
    assert store.client.stat_object(bucket, "escrow/datasets/d/v1.bin").size == MiB
    store.delete("datasets/d/v1.bin")
    store.client.remove_bucket(bucket)
