"""Dataset, version and deposit bodies (DESIGN section 10 shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from escrow.datasets.results import DatasetRecord, Version
from escrow.datasets.service import FIELD_TYPES, LABEL_PATTERN, MAX_FIELDS, MAX_LABELS
from escrow.schemas import Input, Name

MediaType = Annotated[
    str, msgspec.Meta(min_length=3, max_length=255, pattern=r"^[\w.+-]+/[\w.+-]+$")
]
# Patterns and enums in extra_json_schema are documented; the service checks them (422).
Label = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=63, extra_json_schema={"pattern": LABEL_PATTERN.pattern}),
]
FieldType = Annotated[
    str, msgspec.Meta(max_length=32, extra_json_schema={"enum": sorted(FIELD_TYPES)})
]


class SchemaField(Input):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    type: FieldType


class TabularSchema(Input):
    fields: Annotated[list[SchemaField], msgspec.Meta(min_length=1, max_length=MAX_FIELDS)]


class DatasetCreate(Input):
    name: Name
    media_type: MediaType = "application/octet-stream"
    description: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    labels: Annotated[list[Label], msgspec.Meta(max_length=MAX_LABELS)] = msgspec.field(
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
    def of(cls, dataset: DatasetRecord) -> DatasetOut:
        return cls(
            id=dataset.id,
            owner=dataset.owner,
            name=dataset.name,
            description=dataset.description,
            media_type=dataset.media_type,
            labels=list(dataset.labels),
            schema=dataset.schema,
            status=dataset.status,
            versions=dataset.versions,
            created_at=dataset.created_at,
            updated_at=dataset.updated_at,
        )


class VersionOut(msgspec.Struct):
    """A deposit: section 10's {version, size, sha256, receipt} plus its metadata.

    A beneficiary whose grant is a view gets ``disclosure: "view"`` and no size, digest or
    receipt of the original: they would confirm guesses about rows and fields the view hides
    (the receipt's attestation hashes every column).
    """

    version: int
    size: int | None
    sha256: str | None
    receipt: dict[str, Any] | None
    dataset_id: str
    media_type: str
    created_at: datetime
    shredded: bool
    disclosure: Literal["whole", "view"] = "whole"

    @classmethod
    def of(cls, version: Version) -> VersionOut:
        return cls(
            version=version.number,
            size=version.size,
            sha256=version.sha256,
            receipt=version.receipt,
            dataset_id=version.dataset_id,
            media_type=version.media_type,
            created_at=version.created_at,
            shredded=version.shredded,
            disclosure="whole" if version.whole else "view",
        )


class SigningKeyOut(msgspec.Struct):
    key_id: str
    algorithm: str
    public_key: str  # base64 of the raw 32-byte Ed25519 key
    public_key_pem: str
