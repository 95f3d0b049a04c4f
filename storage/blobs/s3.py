"""S3BlobStore: blobs as objects in an S3 (or MinIO) bucket, via the minio client."""

from __future__ import annotations

__all__ = ["DEFAULT_BUFFER_SIZE", "DEFAULT_PART_SIZE", "MIN_PART_SIZE", "S3BlobStore"]

import contextlib
import logging
import threading
import weakref
from collections.abc import Iterator
from typing import BinaryIO, cast

import urllib3.exceptions
from minio import Minio
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError

from storage.blobs.base import BlobStore, BlobWriter, check_range
from storage.blobs.errors import (
    BlobNotFoundError,
    BlobStoreConfigError,
    BlobStoreError,
    BlobStoreUnavailableError,
    InvalidBlobKeyError,
)
from storage.blobs.keys import validate_key, validate_prefix
from storage.blobs.pipe import BoundedPipe, PipeClosedError, PipeReader, UploadAbortedError
from storage.blobs.stream import BlobStream, empty_stream

_log = logging.getLogger(__name__)

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's minimum for every part but the last
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
DEFAULT_PART_SIZE = 16 * 1024 * 1024
DEFAULT_BUFFER_SIZE = 8 * 1024 * 1024  # lets the caller fill part of the next part meanwhile

_CONFIG_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidBucketName"}
)


def translate_error(exc: BaseException, action: str, key: str | None = None) -> BlobStoreError:
    """Map a minio/urllib3 failure to the blob error a caller can act on."""
    if isinstance(exc, S3Error):
        if exc.code == "NoSuchKey" and key is not None:
            return BlobNotFoundError(key)
        if exc.code == "NoSuchBucket":
            return BlobStoreConfigError(f"{action}: bucket {exc.bucket_name!r} does not exist")
        if exc.code in _CONFIG_CODES:
            return BlobStoreConfigError(f"{action}: {exc.code}: {exc.message}")
        if exc.response.status >= 500:
            return BlobStoreUnavailableError(f"{action}: {exc.code}: {exc.message}")
        return BlobStoreError(f"{action}: {exc.code}: {exc.message}")
    if isinstance(exc, ServerError):
        if exc.status_code >= 500:
            return BlobStoreUnavailableError(f"{action}: {exc}")
        return BlobStoreError(f"{action}: {exc}")
    if isinstance(exc, InvalidResponseError):
        # Not S3 XML at all: a proxy or load balancer answering for a backend that is gone.
        return BlobStoreUnavailableError(f"{action}: {exc}")
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        # Refused, reset, timed out, or 5xx after the retries ran out (MaxRetryError).
        return BlobStoreUnavailableError(f"{action}: {exc}")
    return BlobStoreError(f"{action}: {exc!r}")


@contextlib.contextmanager
def _s3_errors(action: str, key: str | None = None) -> Iterator[None]:
    try:
        yield
    except (MinioException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise translate_error(exc, action, key) from exc


class _UploadOutcome:
    """Where the upload thread leaves its exception for the writer."""

    error: BaseException | None = None


def _upload(
    client: Minio,
    bucket: str,
    name: str,
    pipe: BoundedPipe,
    part_size: int,
    outcome: _UploadOutcome,
) -> None:
    """Thread body: stream the pipe into one object; minio aborts the multipart upload on error.

    One part at a time (num_parallel_uploads=1): with a pool, minio 7.2 neither joins its
    worker threads nor waits for parts in flight when the stream raises, so every aborted
    upload would leak threads and could race its own AbortMultipartUpload.
    """
    try:
        client.put_object(
            bucket,
            name,
            cast(BinaryIO, PipeReader(pipe)),  # only read() is used
            length=-1,
            part_size=part_size,
            num_parallel_uploads=1,
        )
    except BaseException as exc:  # handed to the writer, which raises or reports it
        outcome.error = exc
    finally:
        pipe.close_read()


class _S3BlobWriter(BlobWriter):
    """Feeds a background ``put_object`` through a bounded pipe; the object appears on commit.

    Data stays in memory until minio sends it: at most the pipe's capacity plus one part
    (minio briefly copies a part twice while assembling it).
    """

    def __init__(
        self, key: str, client: Minio, bucket: str, name: str, part_size: int, buffer_size: int
    ) -> None:
        self.key = key
        self._pipe = BoundedPipe(buffer_size)
        self._outcome = _UploadOutcome()
        self._size = 0
        self._state = "open"
        self._thread = threading.Thread(
            target=_upload,
            args=(client, bucket, name, self._pipe, part_size, self._outcome),
            name=f"blob-upload {name}",
            daemon=True,
        )
        self._thread.start()
        # An abandoned writer must not leave its thread blocked on the pipe forever.
        self._abandon = weakref.finalize(self, self._pipe.abort)

    def write(self, data: bytes | memoryview) -> None:
        self._require_open()
        chunk = bytes(data)  # the caller may reuse its buffer once we return
        if not chunk:
            return
        try:
            self._pipe.put(chunk)
        except PipeClosedError:
            raise self._finish_failed() from self._outcome.error
        self._size += len(chunk)

    def commit(self) -> int:
        self._require_open()
        self._pipe.close_write()
        self._thread.join()
        if self._outcome.error is not None:
            raise self._finish_failed() from self._outcome.error
        self._state = "committed"
        self._abandon.detach()
        return self._size

    def abort(self) -> None:
        if self._state != "open":
            return
        self._state = "aborted"
        self._abandon.detach()
        self._pipe.abort()
        self._thread.join()
        error = self._outcome.error
        if error is not None and not isinstance(error, UploadAbortedError):
            # AbortMultipartUpload itself failed: the parts stay invisible but take space
            # until the bucket's AbortIncompleteMultipartUpload lifecycle rule removes them.
            _log.warning("could not abort the upload of blob %r: %r", self.key, error)

    def _finish_failed(self) -> BlobStoreError:
        self._thread.join()
        self._state = "failed"
        self._abandon.detach()
        if self._outcome.error is None:
            return BlobStoreError(f"upload of blob {self.key!r} ended before commit")
        return translate_error(self._outcome.error, f"cannot upload blob {self.key!r}")

    def _require_open(self) -> None:
        if self._state != "open":
            raise ValueError(f"writer for {self.key!r} is already {self._state}")


class S3BlobStore(BlobStore):
    """Blobs as objects named ``prefix + key`` in ``bucket``.

    Writes are streamed multipart uploads (``part_size`` bytes per part; a blob no larger
    than one part is a single PUT), so an object exists only once complete. Overwrites
    replace the object atomically. Give the bucket an AbortIncompleteMultipartUpload
    lifecycle rule: uploads whose abort failed (backend down at that moment) linger otherwise.
    """

    def __init__(
        self,
        client: Minio,
        bucket: str,
        *,
        prefix: str = "",
        part_size: int = DEFAULT_PART_SIZE,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
    ) -> None:
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(f"part_size must be within [5 MiB, 5 GiB], got {part_size}")
        if buffer_size <= 0:
            raise ValueError("buffer_size must be positive")
        self._client = client
        self._bucket = bucket
        self._prefix = validate_key(prefix.rstrip("/")) + "/" if prefix.strip("/") else ""
        self._part_size = part_size
        self._buffer_size = buffer_size

    @property
    def client(self) -> Minio:
        return self._client

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def prefix(self) -> str:
        return self._prefix

    def _name(self, key: str) -> str:
        return self._prefix + validate_key(key)

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (safe to race with another replica)."""
        with _s3_errors(f"cannot create bucket {self._bucket!r}"):
            if self._client.bucket_exists(self._bucket):
                return
            try:
                self._client.make_bucket(self._bucket)
            except S3Error as exc:
                if exc.code != "BucketAlreadyOwnedByYou":
                    raise

    def open_writer(self, key: str) -> BlobWriter:
        """Start an upload; fails fast (before the caller streams a body) if S3 is unusable."""
        name = self._name(key)
        with _s3_errors(f"cannot write blob {key!r}"):
            found = self._client.bucket_exists(self._bucket)
        if not found:
            raise BlobStoreConfigError(f"bucket {self._bucket!r} does not exist")
        return _S3BlobWriter(
            key, self._client, self._bucket, name, self._part_size, self._buffer_size
        )

    def read(self, key: str, offset: int = 0, length: int | None = None) -> BlobStream:
        name = self._name(key)
        check_range(offset, length)
        if length == 0:
            self.size(key)  # still report a missing blob
            return empty_stream()
        with _s3_errors(f"cannot read blob {key!r}", key):
            try:
                response = self._client.get_object(
                    self._bucket, name, offset=offset, length=length or 0
                )
            except S3Error as exc:
                if exc.code == "InvalidRange":  # offset at or past the end, as slicing allows
                    return empty_stream()
                raise

        def read_chunk(size: int) -> bytes:
            with _s3_errors(f"cannot read blob {key!r}", key):
                return response.read(size, decode_content=False)

        def release(exhausted: bool) -> None:
            if not exhausted:  # unread data: the connection cannot be reused
                response.close()
            response.release_conn()

        return BlobStream(read_chunk, release)

    def size(self, key: str) -> int:
        name = self._name(key)
        with _s3_errors(f"cannot stat blob {key!r}", key):
            info = self._client.stat_object(self._bucket, name)
        if info.size is None:
            raise BlobStoreError(f"backend reported no size for blob {key!r}")
        return info.size

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        name = self._name(key)
        with _s3_errors(f"cannot delete blob {key!r}"):
            self._client.remove_object(self._bucket, name)

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix``; objects whose names are not valid keys are not ours: skipped."""
        validate_prefix(prefix)
        with _s3_errors(f"cannot list blobs under {prefix!r}"):
            objects = self._client.list_objects(
                self._bucket, prefix=self._prefix + prefix, recursive=True
            )
            for obj in objects:
                if obj.is_dir or obj.object_name is None:
                    continue
                key = obj.object_name[len(self._prefix) :]
                try:
                    validate_key(key)
                except InvalidBlobKeyError:
                    continue
                yield key

    def check(self) -> None:
        """Ready if the bucket answers a HEAD request."""
        try:
            with _s3_errors("S3 readiness check"):
                found = self._client.bucket_exists(self._bucket)
        except BlobStoreUnavailableError:
            raise
        except BlobStoreError as exc:
            raise BlobStoreUnavailableError(str(exc)) from exc
        if not found:
            raise BlobStoreUnavailableError(f"bucket {self._bucket!r} does not exist")
