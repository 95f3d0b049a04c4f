"""Serving signed file URLs: the claims, then the live state of everything they name.

A URL is a bearer capability that a connector passes to a plain HTTP client, so it is
checked in full on every request: its signature and expiry, the profile it was issued to,
the agreement (released, unexpired, to the profile's organization, still allowed by the
policy), and the file (the agreement's view of that version). One ``dataset.download``
event is recorded per file and query (the URL's session), not per range request.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from escrow.audit.log import AuditRecord
from escrow.context import RequestContext
from escrow.datasets.disclosure import view_hash
from escrow.datasets.download import ByteRange, parse_range
from escrow.datasets.queries import as_resource
from escrow.errors import ForbiddenError
from escrow.service import Service, ServiceDeps
from escrow.sharing.files import FileStore, view_key
from escrow.sharing.service import Recipient
from escrow.sharing.signed_urls import FileClaims, UrlSigner
from storage.models import (
    Agreement,
    Dataset,
    DatasetVersion,
    Organization,
    SharingFetch,
    SharingFile,
    SharingProfile,
)

GONE = "this file URL no longer grants access"


@dataclass(frozen=True)
class ServedFile:
    size: int
    etag: str
    byte_range: ByteRange | None
    chunks: Iterator[bytes] | None  # None for HEAD


class FileFetches(Service):
    def __init__(self, deps: ServiceDeps, files: FileStore) -> None:
        super().__init__(deps)
        self.files = files

    def open(
        self, signer: UrlSigner, file_id: str, token: str, range_header: str | None, *, head: bool
    ) -> ServedFile:
        """Fails closed: any claim or live check that fails is an audited 403 with no bytes."""
        now = self.deps.clock.now()
        try:
            claims = signer.open(token, now)
        except ForbiddenError as exc:
            self._deny(None, None, str(exc.extra.get("reason", "bad_url")), exc.detail)
        if claims.file_id != file_id:
            self._deny(claims, None, "bad_url", "this file URL is not valid")
        file, dataset, version = self._live(claims)
        byte_range = parse_range(range_header, file.size)
        etag = f'"{file.id}"'
        if head:
            self.session.commit()
            return ServedFile(file.size, etag, byte_range, None)
        self.session.commit()
        chunks = self.files.read(file, byte_range)  # opened before the event
        self._record_fetch(claims, file, dataset, version)
        return ServedFile(file.size, etag, byte_range, chunks)

    def _live(self, claims: FileClaims) -> tuple[SharingFile, Dataset, DatasetVersion]:
        now = self.deps.clock.now()
        row = self.session.execute(
            select(SharingProfile, Organization)
            .join(Organization, Organization.id == SharingProfile.org_id)
            .where(SharingProfile.id == claims.profile_id)
        ).first()
        if row is None or row[0].revoked_at is not None or row[0].expires_at <= now:
            self._deny(claims, None, "profile_ended", GONE)
        profile, org = row[0], row[1]
        recipient = Recipient(profile.id, org.id, org.slug)
        self.ctx = RequestContext(self.ctx.request_id, recipient.actor, self.ctx.client_ip)
        agreement = self.session.get(Agreement, claims.agreement_id)
        if (
            org.status != "active"
            or agreement is None
            or agreement.beneficiary_org_id != org.id
            or agreement.state != "released"
            or (agreement.expires_at is not None and agreement.expires_at <= now)
            or view_key(view_hash(agreement.view)) != claims.view_sha256
        ):
            self._deny(claims, agreement, "agreement_ended", GONE)
        dataset = self.session.get(Dataset, agreement.dataset_id)
        if dataset is None or not self.guard.allows(
            self.ctx, "download", as_resource(self.session, dataset, now)
        ):
            self._deny(claims, agreement, "policy", GONE)
        file = self.session.get(SharingFile, claims.file_id)
        version = self.session.get(DatasetVersion, file.version_id) if file else None
        if (
            file is None
            or version is None
            or file.dataset_id != dataset.id
            or file.view_sha256 != claims.view_sha256
            or version.number != claims.version
            or version.wrapped_dek is None
        ):
            self._deny(claims, agreement, "file_gone", GONE)
        return file, dataset, version

    def _record_fetch(
        self, claims: FileClaims, file: SharingFile, dataset: Dataset, version: DatasetVersion
    ) -> None:
        """The first fetch of a file under a query's URLs is a download; later ranges are not."""
        self.session.add(
            SharingFetch(
                session_id=claims.session_id, file_id=file.id, created_at=self.deps.clock.now()
            )
        )
        try:
            self.session.flush()
        except IntegrityError:
            self.session.rollback()
            return
        self.commit_with_event(
            AuditRecord(
                "dataset.download",
                "success",
                "dataset",
                dataset.id,
                org_ids=(dataset.owner_org_id, self.ctx.principal.org_id),
                details={
                    "version": version.number,
                    "agreement_id": claims.agreement_id,
                    "view_sha256": None if claims.view_sha256 == "whole" else claims.view_sha256,
                    "channel": "delta-sharing",
                    "profile_id": claims.profile_id,
                    "file_id": file.id,
                    "format": "parquet",
                    "bytes": file.size,
                    "rows": file.num_records,
                },
            )
        )

    def _deny(
        self, claims: FileClaims | None, agreement: Agreement | None, reason: str, message: str
    ) -> NoReturn:
        self.session.rollback()
        org_ids = (
            (agreement.owner_org_id, agreement.beneficiary_org_id) if agreement is not None else ()
        )
        self.deps.audit.append(
            self.session,
            self.ctx,
            AuditRecord(
                "sharing.file",
                "denied",
                "agreement" if claims else "sharing_file",
                claims.agreement_id if claims else None,
                reason,
                org_ids,
            ),
        )
        self.session.commit()
        raise ForbiddenError(message, reason=reason)
