"""Materialized view files: each (version, view) written once as Parquet, sealed under its
own DEK in the blob store, and served by byte range with its exact size.

Connectors read Parquet footer first with HTTP Range requests, so the bytes behind a file
URL must not change between requests: they are produced once and kept until the view is no
longer live (the agreement ends, the dataset is shredded), when the row (with its wrapped
DEK) is deleted in the transaction that ended it and the blob right after it commits.
"""

from __future__ import annotations

import base64
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto import KeyManager, WrappedDataKey
from escrow.audit.log import AuditLog, AuditRecord
from escrow.clock import Clock
from escrow.context import RequestContext
from escrow.datasets.disclosure import view_hash
from escrow.datasets.download import ByteRange, ContentReader
from escrow.errors import InvalidStateError
from escrow.ids import IdFactory
from escrow.sharing.parquet_files import ViewError, write_view
from storage.blobs import BlobStore
from storage.models import Agreement, Dataset, DatasetVersion, SharingFile

log = logging.getLogger("escrow.sharing")
WHOLE = "whole"  # the view key of an agreement that grants the dataset whole
BLOB_PREFIX = "sharing/"
_CHUNK = 1 << 20
# Actions after which a materialized view may no longer be live (see prune_after).
ENDING_ACTIONS = frozenset(
    {
        "agreement.revoke",
        "agreement.terminate",
        "agreement.expired",
        "dataset.withdraw",
        "dataset.shred",
    }
)


def view_key(view_sha256: str | None) -> str:
    return view_sha256 or WHOLE


class FileStore:
    """Materializes and reads sharing files: Parquet, sealed under their own data keys."""

    def __init__(
        self,
        audit: AuditLog,
        clock: Clock,
        new_id: IdFactory,
        keys: KeyManager,
        blobs: BlobStore,
        contents: ContentReader,
        scratch: Path,
    ) -> None:
        self.audit = audit
        self.clock = clock
        self.new_id = new_id
        self.keys = keys
        self.blobs = blobs
        self.contents = contents  # the versions' plaintext, which files are made from
        self.scratch = scratch  # a file is written here before it is sealed

    def ensure(
        self, session: Session, dataset: Dataset, version: DatasetVersion, view: Any, key: str
    ) -> SharingFile:
        """The file of (version, view), materializing it if it does not exist yet.

        Runs outside any transaction while it works (a large version takes seconds); two
        requests racing for the same file both write, and the loser deletes its blob.
        """
        found = _find(session, version.id, key)
        if found is not None:
            return found
        wrapped = version.wrapped_dek
        if wrapped is None:
            raise InvalidStateError("this version was shredded")
        facts = (dataset.media_type, dataset.schema, dataset.id, version.size)
        session.commit()
        try:
            row = self._materialize(version, wrapped, view, key, *facts)
        except ViewError as exc:  # its messages carry no data
            raise InvalidStateError(f"this version cannot be shared as Parquet: {exc}") from None
        session.add(row)
        try:
            self.audit.append(
                session,
                RequestContext("sharing-materialize"),
                AuditRecord(
                    "sharing.file.materialize",
                    "success",
                    "dataset",
                    dataset.id,
                    org_ids=(dataset.owner_org_id,),
                    details={"version": version.number, "view_sha256": key, "file_id": row.id},
                ),
            )
            session.commit()
        except IntegrityError:
            session.rollback()
            self._delete_blob(row.blob_key)
            winner = _find(session, version.id, key)
            if winner is None:  # pragma: no cover - the unique row that beat us is there
                raise
            return winner
        return row

    def _materialize(
        self,
        version: DatasetVersion,
        wrapped: str,
        view: Any,
        key: str,
        media_type: str,
        schema: Any,
        dataset_id: str,
        size: int,
    ) -> SharingFile:
        reader = self.contents
        file_id = self.new_id()
        blob_key = f"{BLOB_PREFIX}{dataset_id}/{file_id}.parquet"
        self.scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryFile(dir=self.scratch) as parquet:
            facts = write_view(
                version.media_type or media_type,
                view,
                schema,
                lambda: reader.plaintext(version, wrapped, None),
                lambda start, end: (
                    b"".join(reader.plaintext(version, wrapped, ByteRange(start, min(end, size))))
                    if start < min(end, size)
                    else b""
                ),
                size,
                parquet,
            )
            parquet.seek(0)
            sealed = self._seal(file_id, blob_key, parquet)
        return SharingFile(
            id=file_id,
            dataset_id=dataset_id,
            version_id=version.id,
            view_sha256=key,
            blob_key=blob_key,
            num_records=facts.num_records,
            stats=facts.stats,
            schema_string=facts.schema_string,
            created_at=self.clock.now(),
            **sealed,
        )

    def _seal(self, file_id: str, blob_key: str, parquet: Any) -> dict[str, Any]:
        aad = file_id.encode()
        wrapped, aead = self.keys.new_data_key(aad)
        encryptor = aead.new_encryptor(aad)
        writer = self.blobs.open_writer(blob_key)
        size = 0
        with writer:
            while chunk := parquet.read(_CHUNK):
                size += len(chunk)
                if sealed := encryptor.update(chunk):
                    writer.write(sealed)
            writer.write(encryptor.finalize())
            ciphertext_size = writer.commit()
        return {
            "size": size,
            "ciphertext_size": ciphertext_size,
            "segment_size": aead.layout.segment_size,
            "stream_header": base64.b64encode(encryptor.header).decode("ascii"),
            "wrapped_dek": wrapped.to_text(),
            "kek_id": wrapped.kek_id,
        }

    def read(self, file: SharingFile, byte_range: ByteRange | None) -> Iterator[bytes]:
        """Opens the ciphertext now (a missing blob raises before any header is sent);
        plaintext leaves only after its segment authenticated."""
        aad = file.id.encode()
        aead = self.keys.open_data_key(
            WrappedDataKey.parse(file.wrapped_dek), aad, segment_size=file.segment_size
        )
        blobs = self.blobs
        if byte_range is None:
            return _decrypted(blobs.read(file.blob_key), aead.new_decryptor(aad))
        segments = aead.layout.segment_range(byte_range.start, byte_range.end, file.size)
        header = base64.b64decode(file.stream_header)
        stream = blobs.read(file.blob_key, segments.ciphertext_offset, segments.ciphertext_length)
        return _decrypted(stream, aead.new_range_decryptor(aad, header, segments))

    def _delete_blob(self, key: str) -> None:
        try:
            self.blobs.delete(key)
        except Exception:  # a blob left behind holds only ciphertext whose key is gone
            log.warning("sharing file blob %s left behind", key, exc_info=True)


def _find(session: Session, version_id: str, key: str) -> SharingFile | None:
    return session.scalar(
        select(SharingFile).where(
            SharingFile.version_id == version_id, SharingFile.view_sha256 == key
        )
    )


def _decrypted(ciphertext: Any, decryptor: Any) -> Iterator[bytes]:
    with ciphertext:
        for chunk in ciphertext:
            if plaintext := decryptor.update(chunk):
                yield plaintext
    if tail := decryptor.finalize():
        yield tail


def ends_a_release(record: AuditRecord) -> bool:
    """The records after which ``prune_after`` may delete files' rows."""
    return record.action in ENDING_ACTIONS and record.outcome == "success"


def prune_after(store: FileStore) -> Any:
    """An audit listener: when an agreement ends or a dataset is withdrawn or shredded, the
    files no live released agreement still needs lose their rows (and so their DEKs) in the
    same transaction; their blobs are deleted once it commits."""

    def listener(
        session: Session, ctx: RequestContext, record: AuditRecord, _seq: int | None
    ) -> None:
        if not ends_a_release(record):
            return
        dataset_id = _dataset_of(session, record)
        if dataset_id is None:
            return
        doomed = _unneeded(session, dataset_id, store.clock.now())
        if not doomed:
            return
        session.execute(delete(SharingFile).where(SharingFile.id.in_([f.id for f in doomed])))
        keys = [f.blob_key for f in doomed]

        def remove_blobs(_session: Session) -> None:
            for key in keys:
                store._delete_blob(key)

        event.listen(session, "after_commit", remove_blobs, once=True)

    return listener


def _dataset_of(session: Session, record: AuditRecord) -> str | None:
    if record.resource_type == "dataset":
        return record.resource_id
    if record.resource_type == "agreement" and record.resource_id:
        agreement = session.get(Agreement, record.resource_id)
        return agreement.dataset_id if agreement else None
    return None


def _unneeded(session: Session, dataset_id: str, now: Any) -> list[SharingFile]:
    files = list(session.scalars(select(SharingFile).where(SharingFile.dataset_id == dataset_id)))
    if not files:
        return []
    dataset = session.get(Dataset, dataset_id)
    live_views: set[str] = set()
    if dataset is not None and dataset.status == "active":
        agreements = session.scalars(
            select(Agreement).where(
                Agreement.dataset_id == dataset_id,
                Agreement.state == "released",
                or_(Agreement.expires_at.is_(None), Agreement.expires_at > now),
            )
        )
        live_views = {view_key(view_hash(a.view)) for a in agreements}
    shredded = set(
        session.scalars(
            select(DatasetVersion.id).where(
                DatasetVersion.dataset_id == dataset_id, DatasetVersion.wrapped_dek.is_(None)
            )
        )
    )
    return [f for f in files if f.view_sha256 not in live_views or f.version_id in shredded]


__all__ = ["ENDING_ACTIONS", "WHOLE", "FileStore", "ends_a_release", "prune_after", "view_key"]
