"""What the dataset use cases return: datasets and versions as the caller may see them, and a
deposit's outcome.

Built inside the use case while its session is open (see escrow/orgs/results.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.models import Dataset, DatasetVersion


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    id: str
    owner: str  # the owner organization's slug
    name: str
    description: str
    media_type: str
    labels: tuple[str, ...]
    schema: dict[str, Any] | None  # what the caller may see of it: a view's fields only
    status: str
    versions: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Version:
    """A deposit's metadata and signed receipt.

    For a beneficiary whose grant is a view, ``whole`` is False and the original's size,
    digest and receipt are withheld: they would confirm guesses about rows and fields the
    view hides (the receipt's attestation hashes every column).
    """

    number: int
    dataset_id: str
    media_type: str
    created_at: datetime
    shredded: bool
    whole: bool
    size: int | None
    sha256: str | None
    receipt: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Deposited:
    version: Version
    replayed: bool  # an earlier deposit's, answered again for the same Idempotency-Key


def dataset_of(row: Dataset, owner_slug: str, schema: dict[str, Any] | None) -> DatasetRecord:
    """``schema``: what the caller may see of the row's."""
    return DatasetRecord(
        id=row.id,
        owner=owner_slug,
        name=row.name,
        description=row.description,
        media_type=row.media_type,
        labels=tuple(row.labels),
        schema=schema,
        status=row.status,
        versions=row.version_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def version_of(row: DatasetVersion, *, whole: bool = True) -> Version:
    """``whole``: the caller sees the original (its owner, or a grant of all of it)."""
    return Version(
        number=row.number,
        dataset_id=row.dataset_id,
        media_type=row.media_type,
        created_at=row.created_at,
        shredded=row.wrapped_dek is None,
        whole=whole,
        size=row.size if whole else None,
        sha256=row.sha256 if whole else None,
        receipt=row.receipt if whole else None,
    )
