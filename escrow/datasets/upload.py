"""A deposit's request, checked before any byte is read, and its body in flight: each chunk
hashed, scanned and encrypted as it arrives, ciphertext going straight to the blob writer."""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from crypto import StreamEncryptor, WrappedDataKey
from escrow.datasets.service import validate_schema
from escrow.errors import PayloadTooLargeError, ValidationError
from storage.blobs import BlobWriter
from tabular.scan import ScanResult, TableScan

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
MAX_MEDIA_TYPE_LENGTH = 255  # the column's width; checked before the body is read
GENERIC_MEDIA_TYPE = "application/octet-stream"


def blob_key_for(dataset_id: str, version_id: str) -> str:
    return f"datasets/{dataset_id}/{version_id}.bin"


@dataclass(frozen=True)
class DepositRequest:
    dataset_id: str
    media_type: str | None
    idempotency_key: str | None
    expected_sha256: str | None
    declared_length: int | None
    declared_schema: str | None = None  # X-Dataset-Schema: the version's new schema, JSON

    def schema(self) -> dict[str, Any] | None:
        """The declared schema, validated (None: none declared)."""
        if self.declared_schema is None:
            return None
        try:
            declared = json.loads(self.declared_schema)
        except ValueError:
            declared = None
        if not isinstance(declared, dict):
            raise ValidationError(
                'X-Dataset-Schema must be a JSON schema {"fields": [...]}',
                field="x-dataset-schema",
            )
        return validate_schema(declared)

    def validated(self) -> DepositRequest:
        media_type = (self.media_type or "").split(";", 1)[0].strip().lower() or None
        if media_type is not None and len(media_type) > MAX_MEDIA_TYPE_LENGTH:
            raise ValidationError(
                f"Content-Type's media type must be at most {MAX_MEDIA_TYPE_LENGTH} characters",
                field="content-type",
            )
        if media_type is not None and not _MEDIA_TYPE.match(media_type):
            raise ValidationError("Content-Type is not a media type", field="content-type")
        if self.idempotency_key is not None and not _IDEMPOTENCY_KEY.match(self.idempotency_key):
            raise ValidationError("Idempotency-Key must be 1-255 visible ASCII characters")
        expected = self.expected_sha256.lower() if self.expected_sha256 else None
        if expected is not None and not _SHA256_HEX.match(expected):
            raise ValidationError(
                "X-Content-SHA256 must be 64 hex digits", field="x-content-sha256"
            )
        self.schema()  # refused before any byte is read
        return DepositRequest(
            self.dataset_id,
            media_type,
            self.idempotency_key,
            expected,
            self.declared_length,
            self.declared_schema,
        )


@dataclass
class Upload:
    """One deposit in flight: fed in order from one task at a time, never in parallel."""

    request: DepositRequest
    dataset_id: str
    owner_org_id: str
    version_id: str
    media_type: str
    blob_key: str
    max_bytes: int
    wrapped: WrappedDataKey
    encryptor: StreamEncryptor
    writer: BlobWriter
    segment_size: int
    scan: ScanAhead | None
    size: int = 0
    ciphertext_size: int = 0
    digest: Any = field(default_factory=hashlib.sha256)

    def absorb(self, data: bytes | bytearray) -> None:
        """Hash, scan, encrypt and write one chunk (runs off the event loop)."""
        self.size += len(data)
        if self.size > self.max_bytes:
            raise PayloadTooLargeError(f"deposits are limited to {self.max_bytes} bytes")
        self.digest.update(data)
        if self.scan is not None:
            self.scan.update(bytes(data))
        sealed = self.encryptor.update(data)
        if sealed:
            self.writer.write(sealed)

    def seal(self) -> None:
        self.writer.write(self.encryptor.finalize())
        self.ciphertext_size = self.writer.commit()


class ScanAhead:
    """A deposit's table scan on a thread of its own, one chunk behind the upload: the upload
    hashes, encrypts and writes a chunk while the scan reads the one before (each releases
    the GIL in its C parts), so a tabular deposit takes about the longer of the two, not
    their sum. Holds one chunk more than a plain upload. The first chunk is read in line: a
    body of one chunk (most small deposits) never starts the thread."""

    def __init__(self, scan: TableScan) -> None:
        self._scan = scan
        self._thread: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None
        self._first = True

    def update(self, chunk: bytes) -> None:
        if self._first:
            self._first = False
            self._scan.update(chunk)
            return
        self._wait()
        if self._thread is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="deposit-scan")
        self._pending = self._thread.submit(self._scan.update, chunk)

    def finish(self) -> ScanResult:
        """The scan's result once every chunk is read (``TableScan.finish``)."""
        self._wait()
        return self._scan.finish()

    def close(self) -> None:
        """Stops the thread (idempotent); a chunk still being read is waited for."""
        if self._thread is not None:
            self._thread.shutdown(wait=True, cancel_futures=True)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()
