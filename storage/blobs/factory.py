"""open_blob_store: build the store that ESCROW_BLOB_URL names."""

from __future__ import annotations

__all__ = ["make_s3_client", "open_blob_store"]

from pathlib import Path

import certifi
import urllib3
from minio import Minio
from minio.helpers import check_bucket_name

from storage.blobs.base import BlobStore
from storage.blobs.errors import BlobStoreConfigError, InvalidBlobKeyError
from storage.blobs.keys import validate_key
from storage.blobs.local import LocalBlobStore
from storage.blobs.s3 import DEFAULT_PART_SIZE, S3BlobStore

_FILE = "file://"
_S3 = "s3://"


def make_s3_client(
    endpoint: str,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str | None = None,
    secure: bool = True,
    connect_timeout: float = 3.0,
    read_timeout: float = 30.0,
    retries: int = 2,
) -> Minio:
    """A minio client that gives up quickly when the backend is down.

    minio's own default waits 5 minutes per connection attempt and retries 5 times; an API
    behind a load balancer should answer 503 within seconds instead.
    """
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        retries=urllib3.Retry(
            total=retries,
            backoff_factor=0.2,
            status_forcelist=(500, 502, 503, 504),
        ),
        maxsize=16,
        cert_reqs="CERT_REQUIRED",
        ca_certs=certifi.where(),
    )
    try:
        return Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            secure=secure,
            http_client=http,
        )
    except ValueError as exc:
        raise BlobStoreConfigError(
            f"ESCROW_S3_ENDPOINT must be host[:port] without scheme or path "
            f"(use ESCROW_S3_SECURE for http/https): {exc}"
        ) from exc


def open_blob_store(
    url: str,
    *,
    s3_endpoint: str | None = None,
    s3_access_key: str | None = None,
    s3_secret_key: str | None = None,
    s3_region: str | None = None,
    s3_secure: bool = True,
    s3_part_size: int = DEFAULT_PART_SIZE,
) -> BlobStore:
    """Open the store for ``url``: ``file:///abs/dir``, ``file://rel/dir`` or ``s3://bucket[/prefix]``.

    Raises BlobStoreConfigError for anything else. Nothing is contacted yet; call
    ``check()`` (and ``ensure_bucket()`` for S3 where the service owns its bucket).
    """
    if url.startswith(_FILE):
        path = url.removeprefix(_FILE)
        if not path:
            raise BlobStoreConfigError("ESCROW_BLOB_URL: file:// needs a directory path")
        return LocalBlobStore(Path(path))
    if url.startswith(_S3):
        return _open_s3(
            url.removeprefix(_S3),
            endpoint=s3_endpoint,
            access_key=s3_access_key,
            secret_key=s3_secret_key,
            region=s3_region,
            secure=s3_secure,
            part_size=s3_part_size,
        )
    # Echo only the scheme: a mistyped URL may carry credentials.
    scheme = url.partition(":")[0] if ":" in url else "(none)"
    raise BlobStoreConfigError(
        f"ESCROW_BLOB_URL must start with file:// or s3://, got scheme {scheme!r}"
    )


def _open_s3(
    location: str,
    *,
    endpoint: str | None,
    access_key: str | None,
    secret_key: str | None,
    region: str | None,
    secure: bool,
    part_size: int,
) -> S3BlobStore:
    bucket, _, prefix = location.partition("/")
    if any(char in location for char in "?#@"):
        raise BlobStoreConfigError("ESCROW_BLOB_URL: s3:// takes a bucket and optional prefix only")
    try:
        check_bucket_name(bucket, strict=True)
    except ValueError as exc:
        raise BlobStoreConfigError(f"ESCROW_BLOB_URL: invalid bucket name: {exc}") from exc
    if prefix.strip("/"):
        try:
            validate_key(prefix.strip("/"))
        except InvalidBlobKeyError as exc:
            raise BlobStoreConfigError(f"ESCROW_BLOB_URL: invalid prefix: {exc.reason}") from exc
    if not endpoint:
        raise BlobStoreConfigError("ESCROW_BLOB_URL is s3:// but ESCROW_S3_ENDPOINT is not set")
    if bool(access_key) != bool(secret_key):
        raise BlobStoreConfigError(
            "set both ESCROW_S3_ACCESS_KEY and ESCROW_S3_SECRET_KEY, or neither"
        )
    client = make_s3_client(
        endpoint, access_key=access_key, secret_key=secret_key, region=region, secure=secure
    )
    return S3BlobStore(client, bucket, prefix=prefix, part_size=part_size)
