"""Downloads: authorize, audit, then decrypt the stored stream segment by segment.

Plaintext leaves only after its segment authenticated. HTTP Range is served from the
segments that cover it, so a range costs what it covers, not the whole blob.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from crypto import KeyManager, StreamDecryptor, WrappedDataKey
from escrow.audit.log import AuditLog, AuditRecord
from escrow.clock import Clock
from escrow.context import RequestContext
from escrow.datasets.access import authorized_version
from escrow.datasets.disclosure import (
    WHOLE,
    Grant,
    RowCounter,
    ViewError,
    require_readable_table,
    require_viewable,
    viewed,
)
from escrow.datasets.queries import no_such_version
from escrow.datasets.service import DatasetService
from escrow.errors import GoneError, InvalidStateError, RangeNotSatisfiableError
from storage.blobs import BlobStore, BlobStream
from storage.db import Database
from storage.models import Dataset, DatasetVersion
from tabular import MEDIA_TYPE_OF, TableFormat

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# A position with more digits than this is beyond any object we store (2**63 has 19), and
# int() refuses strings over 4,300 digits; such a number is read as "beyond the end".
_MAX_POSITION_DIGITS = 19
_BEYOND_ANY_SIZE = 2**63


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """One byte range per RFC 9110; anything we do not serve as a range is served whole."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # multiple ranges or another unit: ignoring Range is allowed
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        suffix = _position(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable("empty suffix range", size)
        return ByteRange(max(0, size - suffix), size)
    start = _position(first)
    end = min(_position(last) + 1, size) if last else size
    if last and _position(last) < start:
        return None  # syntactically invalid: ignore
    if start >= size:
        raise _unsatisfiable(f"range starts beyond the {size} bytes", size)
    return ByteRange(start, end)


def _unsatisfiable(detail: str, size: int) -> RangeNotSatisfiableError:
    error = RangeNotSatisfiableError(detail, size=size)
    error.headers["Content-Range"] = f"bytes */{size}"  # RFC 9110 s15.5.17: the current length
    return error


def _position(digits: str) -> int:
    """A byte position; any number too long to be a real one counts as past every end."""
    stripped = digits.lstrip("0") or "0"
    return _BEYOND_ANY_SIZE if len(stripped) > _MAX_POSITION_DIGITS else int(stripped)


def etag_of(version: DatasetVersion, grant: Grant = WHOLE, output: str | None = None) -> str:
    """The representation's validator: the plaintext digest, or for a view (or a conversion)
    one that names the version, the view and the output format.

    Discloses nothing of the original: a version's content never changes, so its id and the
    view determine the view's bytes, and nothing derived from the original's digest (which a
    partner could test a guessed original against) is needed.
    """
    if output is not None:  # a conversion: another representation, validated apart
        seed = f"{version.id}:{grant.view_sha256}:{output}"
        return f'"{output}-{hashlib.sha256(seed.encode()).hexdigest()}"'
    if grant.view_sha256 is None:
        return f'"sha256-{version.sha256}"'
    derived = hashlib.sha256(f"{version.id}:{grant.view_sha256}".encode()).hexdigest()
    return f'"view-{derived}"'


@dataclass(frozen=True, slots=True)
class Original:
    """The version's own bytes as a download serves them: all of them, or ``byte_range``."""

    size: int  # the whole version's, which a Content-Range names
    sha256: str
    byte_range: ByteRange | None

    @property
    def length(self) -> int:
        return self.byte_range.length if self.byte_range else self.size


@dataclass(frozen=True, slots=True)
class Content:
    """What the HTTP layer streams: the plaintext of a version (or of a range of it), or the
    view of it that the caller's agreement grants, or a conversion.

    Its headers are settled before the first byte and hold no row: the request's session
    has ended by the time the body streams.
    """

    chunks: Iterator[bytes]
    media_type: str
    etag: str
    # None for a view or a conversion: its length is known only once it is streamed, and a
    # view tells nothing of the original.
    original: Original | None = None


class ContentReader:
    """Opens versions' plaintext: authorized downloads and views, and the service's own reads."""

    def __init__(
        self, db: Database, audit: AuditLog, clock: Clock, keys: KeyManager, blobs: BlobStore
    ) -> None:
        self.db = db  # a view's closing event is written after the request's session ended
        self.audit = audit
        self.clock = clock
        self.keys = keys
        self.blobs = blobs

    def open(
        self,
        datasets: DatasetService,
        dataset_id: str,
        number: int,
        range_header: str | None,
        if_range: str | None = None,
        output: TableFormat | None = None,
    ) -> Content:
        """Fails closed: authorize, refuse shredded data, open, audit the access, then decrypt."""
        session = datasets.session
        dataset, version, wrapped, grant = _downloadable(datasets, dataset_id, number)
        actor = datasets.ctx.principal
        byte_range = _served_range(version, grant, output, range_header, if_range)
        org_ids = (dataset.owner_org_id, actor.org_id)
        # Opened before the access is recorded: a blob store that cannot serve the version
        # answers 503 before any header, and a download that never started is not recorded.
        # If recording fails, the unread stream is released as it is dropped (BlobStream).
        # The read transaction ends first: a slow or unreachable store must not hold a
        # database connection idle in a transaction (the pool is shared by every request).
        session.commit()
        plaintext = self.plaintext(version, wrapped, byte_range)
        datasets.commit_with_event(
            AuditRecord(
                "dataset.download",
                "success",
                "dataset",
                dataset.id,
                org_ids=org_ids,
                details=_download_details(version, byte_range, grant),
            )
        )
        if grant.view is None and output is None:
            original = Original(version.size, version.sha256, byte_range)
            return Content(plaintext, version.media_type, etag_of(version), original)
        return self._viewed(datasets.ctx, dataset, version, wrapped, plaintext, grant, output)

    def _viewed(
        self,
        ctx: RequestContext,
        dataset: Dataset,
        version: DatasetVersion,
        wrapped: str,
        plaintext: Iterator[bytes],
        grant: Grant,
        output: TableFormat | None,
    ) -> Content:
        """The granted view (or all of it) in ``output``'s format; what it let through is
        audited once it has streamed to its end."""
        produced = _ByteTally()
        org_ids = (dataset.owner_org_id, ctx.principal.org_id)
        counted = self._row_counter(ctx, dataset.id, org_ids, grant, produced)
        chunks = produced.count(
            viewed(
                version.media_type,
                grant.view or {"fields": None, "where": None},
                dataset.schema,
                plaintext,
                self._plaintext_between(version, wrapped),
                version.size,
                counted,
                output,
            )
        )
        media_type = version.media_type if output is None else MEDIA_TYPE_OF[output]
        return Content(_started(chunks), media_type, etag_of(version, grant, output))

    def _plaintext_between(
        self, version: DatasetVersion, wrapped: str
    ) -> Callable[[int, int], bytes]:
        """Reads ``[start, end)`` of the version's plaintext (a view looks back for headers)."""

        def read(start: int, end: int) -> bytes:
            end = min(end, version.size)
            if start >= end:
                return b""
            return b"".join(self.plaintext(version, wrapped, ByteRange(start, end)))

        return read

    def _row_counter(
        self,
        ctx: RequestContext,
        dataset_id: str,
        org_ids: tuple[str, ...],
        grant: Grant,
        produced: _ByteTally,
    ) -> RowCounter:
        """Audits what a view let through, once the download has streamed to its end.

        The partner reads this event, so it holds only what the view disclosed: rows scanned
        and malformed rows would give away the original's row count.
        """

        def counted(_scanned: int, returned: int, _malformed: int) -> None:
            with self.db.session() as session:
                self.audit.append(
                    session,
                    ctx,
                    AuditRecord(
                        "dataset.download.view",
                        "success",
                        "dataset",
                        dataset_id,
                        org_ids=org_ids,
                        details={
                            "agreement_id": grant.agreement_id,
                            "view_sha256": grant.view_sha256,
                            "rows_returned": returned,
                            "bytes": produced.bytes,
                        },
                    ),
                    last=True,
                )
                session.commit()

        return counted

    def plaintext(
        self, version: DatasetVersion, wrapped: str, byte_range: ByteRange | None
    ) -> Iterator[bytes]:
        aad = version.id.encode()
        aead = self.keys.open_data_key(
            WrappedDataKey.parse(wrapped), aad, segment_size=version.segment_size
        )
        if byte_range is None:
            return _decrypt(self.blobs, version.blob_key, 0, None, aead.new_decryptor(aad))
        segments = aead.layout.segment_range(byte_range.start, byte_range.end, version.size)
        header = base64.b64decode(version.stream_header)
        return _decrypt(
            self.blobs,
            version.blob_key,
            segments.ciphertext_offset,
            segments.ciphertext_length,
            aead.new_range_decryptor(aad, header, segments),
        )


def _decrypt(
    blobs: BlobStore, key: str, offset: int, length: int | None, decryptor: StreamDecryptor
) -> Iterator[bytes]:
    """Opens the ciphertext now, so that a missing blob or an unreachable store raises here,
    before any header is sent; decrypts it as the returned iterator is pulled."""
    return _decrypted(blobs.read(key, offset, length), decryptor)


def _decrypted(ciphertext: BlobStream, decryptor: StreamDecryptor) -> Iterator[bytes]:
    with ciphertext:
        for chunk in ciphertext:
            plaintext = decryptor.update(chunk)
            if plaintext:
                yield plaintext
    tail = decryptor.finalize()
    if tail:
        yield tail


def _download_details(
    version: DatasetVersion, byte_range: ByteRange | None, grant: Grant
) -> dict[str, object]:
    """The download event's details; the beneficiary reads them, so a view's download
    names the view, never the original's digest or size."""
    details: dict[str, object] = {
        "version": version.number,
        "range": [byte_range.start, byte_range.end] if byte_range else None,
        "agreement_id": grant.agreement_id,
        "view_sha256": grant.view_sha256,
        "bytes": _served(version, byte_range, grant),
    }
    if grant.view is None:
        details["sha256"] = version.sha256
    return details


def _served(version: DatasetVersion, byte_range: ByteRange | None, grant: Grant) -> int | None:
    """The bytes a download serves; a view's are known only once it has run, so its
    dataset.download.view event carries them instead."""
    if grant.view is not None:
        return None
    return byte_range.length if byte_range else version.size


class _ByteTally:
    """The bytes a view has produced; complete when its row counter is called, which the
    view does after its last chunk has passed through ``count``."""

    def __init__(self) -> None:
        self.bytes = 0

    def count(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.bytes += len(chunk)
            yield chunk


def _started(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Pulls the first output before any header is sent, so that a version the view cannot
    be applied to (a missing column, not UTF-8) is answered as a problem, not a cut stream."""
    try:
        first = next(chunks, b"")
    except ViewError:
        raise InvalidStateError(
            "this version does not have the columns or encoding the view needs"
        ) from None
    return itertools.chain([first], chunks)


def _served_range(
    version: DatasetVersion,
    grant: Grant,
    output: TableFormat | None,
    range_header: str | None,
    if_range: str | None,
) -> ByteRange | None:
    """The byte range to serve (None: all). If-Range names the representation the client
    holds, and a stale one gets it all; a view or a conversion is only served whole."""
    stale = if_range is not None and if_range != etag_of(version, grant, output)
    byte_range = None if stale else parse_range(range_header, version.size)
    if grant.view is not None or output is not None:
        require_viewable(version.media_type)
        require_readable_table(version)
        if byte_range is not None:
            raise RangeNotSatisfiableError(
                "ranges are not served over a view or a conversion: download it whole"
            )
    return byte_range


def _downloadable(
    datasets: DatasetService, dataset_id: str, number: int
) -> tuple[Dataset, DatasetVersion, str, Grant]:
    """The dataset and version, authorized for download, the version's wrapped key and the
    caller's grant; 410 for what was shredded."""
    dataset, version, grant = authorized_version(datasets.deps, dataset_id, "download", number)
    if dataset.status == "shredded":
        raise GoneError("this dataset was shredded: its keys and content are destroyed")
    if version is None:
        raise no_such_version(dataset.id, number)
    if version.wrapped_dek is None:
        raise GoneError("this version was shredded: its keys and content are destroyed")
    return dataset, version, version.wrapped_dek, grant
