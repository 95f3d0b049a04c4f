"""Deposits: stream, hash, scan and encrypt a body into the blob store, then record it.

The body never exists in plaintext outside the current chunk: each chunk is hashed,
scanned (a tabular body: content digest and schema, ``tabular.scan``) and encrypted as it
arrives, and ciphertext goes straight to the blob writer. A tabular body must be a
well-formed table whose schema is the dataset's: the first version of a dataset without a
schema records the one inferred; a later version whose schema differs is refused (422,
nothing kept) unless the depositor declares the new schema (``X-Dataset-Schema``).
A version row exists only for a blob that was committed whole; a blob whose row never
commits is deleted here or reclaimed by `escrow storage gc`.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto import KeyManager, sign_document
from escrow.audit.log import AuditRecord
from escrow.context import RequestContext
from escrow.datasets.results import Deposited, version_of
from escrow.datasets.service import DatasetService
from escrow.datasets.upload import (
    GENERIC_MEDIA_TYPE,
    DepositRequest,
    ScanAhead,
    Upload,
    blob_key_for,
)
from escrow.errors import (
    InvalidStateError,
    MalformedTableError,
    PayloadTooLargeError,
    SchemaMismatchError,
    ValidationError,
)
from escrow.instruments import DEPOSIT_BYTES
from escrow.service import Collaborators
from storage.blobs import BlobStore, BlobStoreError
from storage.models import Dataset, DatasetVersion
from tabular import BadTableError, table_format
from tabular import SchemaMismatchError as TableSchemaMismatch
from tabular.scan import ScanResult, TableScan

log = logging.getLogger("escrow.datasets")

RECEIPT_TYPE = "partner-escrow/deposit-receipt/v1"


@dataclass(frozen=True)
class _Stored:
    """What the new version is recorded as: its number, digests, audit index and time."""

    number: int
    sha256: str
    content_digest: dict[str, Any] | None  # the tabular receipt attestation
    seq: int
    at: datetime


class Depositor:
    """Runs a deposit over three short transactions: check, (stream), record."""

    def __init__(
        self,
        ctx: RequestContext,
        shared: Collaborators,
        keys: KeyManager,
        blobs: BlobStore,
        max_bytes: int,
    ) -> None:
        self.ctx = ctx
        self.shared = shared
        self.keys = keys  # new data keys, and the service signer of receipts
        self.blobs = blobs
        self.max_bytes = max_bytes

    def begin(self, request: DepositRequest) -> Upload | Deposited:
        request = request.validated()
        limit = self.max_bytes
        with self.shared.unit_of_work(self.ctx) as deps:
            session, datasets = deps.session, DatasetService(deps)
            dataset = datasets.load(request.dataset_id, "deposit")
            if dataset.status != "active":
                raise InvalidStateError(f"dataset is {dataset.status}: no new versions")
            if request.idempotency_key is not None:
                earlier = _by_idempotency_key(session, dataset.id, request.idempotency_key)
                if earlier is not None:
                    return Deposited(version_of(earlier), replayed=True)
            owner_org_id = dataset.owner_org_id
            # octet-stream says only "bytes" (what generated clients send): the dataset's
            # declared type is the better word for them.
            sent = request.media_type
            media_type = sent if sent and sent != GENERIC_MEDIA_TYPE else dataset.media_type
        if request.declared_length is not None and request.declared_length > limit:
            self._record_failure(request.dataset_id, owner_org_id, "too_large", None)
            raise PayloadTooLargeError(f"deposits are limited to {limit} bytes")
        version_id = self.shared.new_id()
        wrapped, aead = self.keys.new_data_key(version_id.encode())
        blob_key = blob_key_for(request.dataset_id, version_id)
        writer = self.blobs.open_writer(blob_key)
        return Upload(
            request=request,
            dataset_id=request.dataset_id,
            owner_org_id=owner_org_id,
            version_id=version_id,
            media_type=media_type,
            blob_key=blob_key,
            max_bytes=limit,
            wrapped=wrapped,
            encryptor=aead.new_encryptor(version_id.encode()),
            writer=writer,
            segment_size=aead.layout.segment_size,
            scan=ScanAhead(TableScan(fmt)) if (fmt := table_format(media_type)) else None,
        )

    def finish(self, upload: Upload) -> Deposited:
        """Seal the blob, then record the version, its audit event and signed receipt."""
        try:
            return self._finish(upload)
        finally:
            if upload.scan is not None:
                upload.scan.close()

    def _finish(self, upload: Upload) -> Deposited:
        upload.seal()
        sha256 = upload.digest.hexdigest()
        expected = upload.request.expected_sha256
        if expected is not None and expected != sha256:
            self._discard_blob(upload)
            self._record_failure(
                upload.dataset_id, upload.owner_org_id, "sha256_mismatch", upload.size
            )
            raise ValidationError(
                "the body's SHA-256 does not match X-Content-SHA256; nothing was kept",
                expected=expected,
                actual=sha256,
            )
        try:
            scanned = self._scanned(upload)
            return self._record(upload, sha256, scanned)
        except BaseException:
            self._discard_blob(upload)
            raise

    def _scanned(self, upload: Upload) -> ScanResult | None:
        """The tabular scan's result; a body that is no table is refused and audited."""
        if upload.scan is None:
            return None
        try:
            return upload.scan.finish()
        except BadTableError as bad:
            self._record_failure(
                upload.dataset_id, upload.owner_org_id, "malformed_table", upload.size
            )
            raise MalformedTableError(f"{bad}; nothing was kept", reason=bad.reason) from None

    def abandon(self, upload: Upload, reason: str) -> None:
        """The body did not arrive whole: nothing is kept, and the attempt is audited."""
        if upload.scan is not None:
            upload.scan.close()
        upload.writer.abort()
        self._record_failure(upload.dataset_id, upload.owner_org_id, reason, upload.size)

    def _schema_for(
        self, upload: Upload, current: dict[str, Any] | None, scanned: ScanResult | None
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The dataset's schema after this version (``current``: before it), and how it
        changed (None: unchanged).

        Fails closed: a version unlike the schema it must have is refused, naming each
        difference; the failure is audited before the transaction is rolled back.
        """
        if scanned is None:
            return None, None
        declared = upload.request.schema()
        expected = declared or current
        if expected is None:
            return scanned.schema, "inferred"
        try:
            scanned.check(expected)
        except TableSchemaMismatch as mismatch:
            self._record_failure(
                upload.dataset_id, upload.owner_org_id, "schema_mismatch", upload.size
            )
            raise SchemaMismatchError(
                f"this version's schema differs from the "
                f"{'declared' if declared else 'dataset' + chr(39) + 's'} schema: {mismatch}; "
                "nothing was kept (declare the new schema with X-Dataset-Schema)",
                differences=mismatch.differences,
            ) from None
        if declared is not None and declared != current:
            return declared, "declared"
        return None, None

    def _record(self, upload: Upload, sha256: str, scanned: ScanResult | None) -> Deposited:
        """The version row, its event and its signed receipt, committed together."""
        with self.shared.audit.indexing(), self.shared.db.session() as session:
            number, current = _count_version(session, upload.dataset_id)
            schema, schema_change = self._schema_for(upload, current, scanned)
            if schema_change is not None:
                session.execute(
                    update(Dataset).where(Dataset.id == upload.dataset_id).values(schema=schema)
                )
            content_digest = scanned.digest if scanned is not None else None
            now = self.shared.clock.now()
            seq = self.shared.audit.append_indexed(  # the receipt cites it
                session,
                self.ctx,
                AuditRecord(
                    "dataset.deposit",
                    "success",
                    "dataset",
                    upload.dataset_id,
                    org_ids=(upload.owner_org_id,),
                    details={
                        "version": number,
                        "size": upload.size,
                        "sha256": sha256,
                        "kek": upload.wrapped.kek_id,
                        **({"schema": schema_change} if schema_change else {}),
                    },
                ),
            )
            stored = _Stored(number, sha256, content_digest, seq, now)
            receipt = self._receipt(upload, stored)
            version = self._version(upload, stored, receipt)
            try:
                session.execute(_INSERT_VERSION, _columns(version))
                session.commit()
            except IntegrityError as clash:
                return self._replayed(session, upload, clash)
            DEPOSIT_BYTES.inc(upload.size)  # committed: the bytes are in escrow now
            return Deposited(version_of(version), replayed=False)

    def _receipt(self, upload: Upload, stored: _Stored) -> dict[str, Any]:
        actor = self.ctx.principal
        return sign_document(
            {
                "type": RECEIPT_TYPE,
                "dataset_id": upload.dataset_id,
                "version": stored.number,
                "version_id": upload.version_id,
                "size": upload.size,
                "sha256": stored.sha256,
                "media_type": upload.media_type,
                "depositor": {"id": actor.id, "org": actor.org_slug, "org_id": actor.org_id},
                "time": stored.at.isoformat(timespec="microseconds"),
                "kek_id": upload.wrapped.kek_id,
                "attestation": stored.content_digest,
                "audit_index": stored.seq,
            },
            self.keys.service_signer,
        )

    def _version(self, upload: Upload, stored: _Stored, receipt: dict[str, Any]) -> DatasetVersion:
        return DatasetVersion(
            id=upload.version_id,
            dataset_id=upload.dataset_id,
            number=stored.number,
            size=upload.size,
            sha256=stored.sha256,
            media_type=upload.media_type,
            blob_key=upload.blob_key,
            ciphertext_size=upload.ciphertext_size,
            segment_size=upload.segment_size,
            stream_header=_b64(upload.encryptor.header),
            wrapped_dek=upload.wrapped.to_text(),
            kek_id=upload.wrapped.kek_id,
            depositor_id=self.ctx.principal.id,
            idempotency_key=upload.request.idempotency_key,
            attestation=stored.content_digest,
            receipt=receipt,
            audit_seq=stored.seq,
            created_at=stored.at,
        )

    def _replayed(self, session: Session, upload: Upload, clash: IntegrityError) -> Deposited:
        """A concurrent retry with the same Idempotency-Key won: answer with its result."""
        session.rollback()
        key = upload.request.idempotency_key
        earlier = _by_idempotency_key(session, upload.dataset_id, key) if key else None
        if earlier is None:
            raise clash
        self._discard_blob(upload)
        return Deposited(version_of(earlier), replayed=True)

    def _discard_blob(self, upload: Upload) -> None:
        try:
            self.blobs.delete(upload.blob_key)
        except BlobStoreError:
            log.warning("orphan blob %s left for `escrow storage gc`", upload.blob_key)

    def _record_failure(self, dataset_id: str, org_id: str, reason: str, size: int | None) -> None:
        with self.shared.db.session() as session:
            self.shared.audit.append(
                session,
                self.ctx,
                AuditRecord(
                    "dataset.deposit",
                    "failed",
                    "dataset",
                    dataset_id,
                    reason,
                    (org_id,),
                    details={"bytes_received": size} if size is not None else {},
                ),
                last=True,
            )
            session.commit()


# The deposit's two writes are Core statements on the tables: its session holds no ORM
# object to keep up to date, and the ORM's per-statement work (bulk-update synchronisation,
# a unit of work for one row) cost more CPU than PostgreSQL spends on the rows.
_DATASETS = cast(Table, Dataset.__table__)
_VERSIONS = cast(Table, DatasetVersion.__table__)
_COUNT_VERSION = (
    update(_DATASETS)
    .where(_DATASETS.c.id == bindparam("dataset_id"), _DATASETS.c.status == "active")
    .values(version_count=_DATASETS.c.version_count + 1)
    .returning(_DATASETS.c.version_count, _DATASETS.c.schema)
)
_INSERT_VERSION = insert(_VERSIONS)


def _columns(version: DatasetVersion) -> dict[str, Any]:
    """The row of a version not added to a session, by column name."""
    return {column.key: getattr(version, column.key) for column in _VERSIONS.columns}


def _count_version(session: Session, dataset_id: str) -> tuple[int, dict[str, Any] | None]:
    """Counts the version in while the dataset is active: (its number, the dataset's schema
    until now). The dataset's row stays locked until the version is recorded."""
    counted = session.execute(_COUNT_VERSION, {"dataset_id": dataset_id}).one_or_none()
    if counted is None:
        raise InvalidStateError("the dataset stopped accepting versions during upload")
    return int(counted[0]), counted[1]


def _by_idempotency_key(session: Session, dataset_id: str, key: str) -> DatasetVersion | None:
    return session.scalar(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset_id, DatasetVersion.idempotency_key == key
        )
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
