"""open_blob_store: which store a blob URL opens, and which URLs it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.blobs import (
    BlobStore,
    BlobStoreConfigError,
    LocalBlobStore,
    S3BlobStore,
    open_blob_store,
)

SECRET = "hunter2-secret"


def open_with_s3_settings(url: str) -> BlobStore:
    return open_blob_store(
        url,
        s3_endpoint="127.0.0.1:9000",
        s3_access_key="escrow",
        s3_secret_key=SECRET,
        s3_region="us-east-1",
        s3_secure=False,
    )


def test_absolute_file_url_opens_a_local_store(tmp_path: Path) -> None:
    store = open_blob_store(f"file://{tmp_path}/blobs")
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "blobs"


def test_relative_file_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_blob_store("file://./.escrow/blobs")
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / ".escrow" / "blobs"
    assert isinstance(open_blob_store("file://data"), LocalBlobStore)
    assert (tmp_path / "data").is_dir()


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        ("s3://escrow-blobs", ""),
        ("s3://escrow-blobs/", ""),
        ("s3://escrow-blobs/prod/eu", "prod/eu/"),
        ("s3://escrow-blobs/prod/", "prod/"),
    ],
)
def test_s3_url_opens_an_s3_store(url: str, prefix: str) -> None:
    store = open_with_s3_settings(url)
    assert isinstance(store, S3BlobStore)
    assert store.bucket == "escrow-blobs"
    assert store.prefix == prefix


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "ESCROW_BLOB_URL"),
        ("/var/lib/blobs", "ESCROW_BLOB_URL"),
        ("file:/var/lib/blobs", "ESCROW_BLOB_URL"),
        ("file://", "ESCROW_BLOB_URL"),
        ("gs://bucket", "ESCROW_BLOB_URL"),
        ("https://escrow:hunter2-secret@s3.example.com/bucket", "ESCROW_BLOB_URL"),
        ("s3://", "ESCROW_BLOB_URL"),
        ("s3://Not_A_Bucket", "ESCROW_BLOB_URL"),
        ("s3://escrow:hunter2-secret@bucket", "ESCROW_BLOB_URL"),
        ("s3://bucket?region=x", "ESCROW_BLOB_URL"),
        ("s3://bucket/../up", "ESCROW_BLOB_URL"),
    ],
)
def test_unusable_urls_are_configuration_errors(url: str, message: str) -> None:
    with pytest.raises(BlobStoreConfigError, match=message) as caught:
        open_with_s3_settings(url)
    assert SECRET not in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_s3_needs_an_endpoint() -> None:
    with pytest.raises(BlobStoreConfigError, match="ESCROW_S3_ENDPOINT"):
        open_blob_store("s3://bucket")


def test_s3_endpoint_must_be_host_and_port() -> None:
    with pytest.raises(BlobStoreConfigError, match="ESCROW_S3_ENDPOINT"):
        open_blob_store("s3://bucket", s3_endpoint="http://127.0.0.1:9000")


def test_s3_credentials_come_in_pairs() -> None:
    with pytest.raises(BlobStoreConfigError, match="ESCROW_S3_SECRET_KEY"):
        open_blob_store("s3://bucket", s3_endpoint="127.0.0.1:9000", s3_access_key="escrow")
