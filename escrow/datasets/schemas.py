"""Dataset, version and deposit bodies (DESIGN section 10 shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from escrow.schemas import Input, Name
from storage.models import Dataset, DatasetVersion

MediaType = Annotated[
    str, msgspec.Meta(min_length=3, max_length=255, pattern=r"^[\w.+-]+/[\w.+-]+$")
]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=63)]


class SchemaField(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    type: str


class TabularSchema(Input):
    fields: Annotated[list[SchemaField], msgspec.Meta(min_length=1, max_length=1024)]


class DatasetCreate(Input):
    name: Name
    media_type: MediaType = "application/octet-stream"
    description: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    labels: Annotated[list[Label], msgspec.Meta(max_length=32)] = msgspec.field(
        default_factory=list
    )
    schema: TabularSchema | None = None


class DatasetOut(msgspec.Struct):
    id: str
    owner: str
    name: str
    description: str
    media_type: str
    labels: list[str]
    schema: dict[str, Any] | None
    status: str
    versions: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, dataset: Dataset, owner_slug: str) -> DatasetOut:
        return cls(
            id=dataset.id,
            owner=owner_slug,
            name=dataset.name,
            description=dataset.description,
            media_type=dataset.media_type,
            labels=list(dataset.labels),
            schema=dataset.schema,
            status=dataset.status,
            versions=dataset.version_count,
            created_at=dataset.created_at,
            updated_at=dataset.updated_at,
        )


class VersionOut(msgspec.Struct):
    """A deposit: section 10's {version, size, sha256, receipt} plus its metadata."""

    version: int
    size: int
    sha256: str
    receipt: dict[str, Any]
    dataset_id: str
    media_type: str
    created_at: datetime
    shredded: bool

    @classmethod
    def of(cls, version: DatasetVersion) -> VersionOut:
        return cls(
            version=version.number,
            size=version.size,
            sha256=version.sha256,
            receipt=version.receipt,
            dataset_id=version.dataset_id,
            media_type=version.media_type,
            created_at=version.created_at,
            shredded=version.wrapped_dek is None,
        )


class SigningKeyOut(msgspec.Struct):
    key_id: str
    algorithm: str
    public_key: str  # base64 of the raw 32-byte Ed25519 key
    public_key_pem: str
