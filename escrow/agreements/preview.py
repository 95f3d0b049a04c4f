"""The owner's preview of an agreement: the first rows its beneficiary would receive."""

from __future__ import annotations

from sqlalchemy import select

from escrow.agreements.results import Preview
from escrow.agreements.service import AgreementService
from escrow.datasets.disclosure import preview_rows, require_viewable, view_hash, viewed
from escrow.datasets.download import ContentReader
from escrow.datasets.queries import find_dataset
from escrow.errors import NotFoundError
from escrow.paging import MAX_INTEGER
from storage.models import DatasetVersion


def preview(
    agreements: AgreementService,
    contents: ContentReader,
    agreement_id: str,
    rows: int,
    number: int | None,
) -> Preview:
    """The rows of version ``number`` (default: the latest) through the agreement's view,
    for the owner to check before approving; nothing of it is recorded as a download."""
    session = agreements.session
    agreement = agreements.authorized(agreement_id, "preview")
    dataset = find_dataset(session, agreement.dataset_id)
    versions = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id)
    if number is not None and not 1 <= number <= MAX_INTEGER:
        raise NotFoundError(f"no version {number} to preview")
    if number is not None:
        versions = versions.where(DatasetVersion.number == number)
    version = session.scalar(versions.order_by(DatasetVersion.number.desc()).limit(1))
    if version is None or version.wrapped_dek is None:
        raise NotFoundError("no readable version to preview")
    require_viewable(version.media_type)
    plaintext = contents.plaintext(version, version.wrapped_dek, None)
    output = (
        plaintext
        if agreement.view is None
        else viewed(
            version.media_type,
            agreement.view,
            dataset.schema,
            plaintext,
            lambda start, end: b"",
            version.size,
            lambda *_: None,
        )
    )
    try:
        sample = preview_rows(version.media_type, output, rows)
    finally:
        close = getattr(output, "close", None)
        if close is not None:
            close()
    return Preview(version.number, view_hash(agreement.view), sample)
