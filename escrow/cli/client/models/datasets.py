"""Dataset and version bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from escrow.cli.client.models import Name, Request

MediaType = Annotated[
    str, msgspec.Meta(min_length=3, max_length=255, pattern=r"^[\w.+-]+/[\w.+-]+$")
]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=63)]


class SchemaField(Request):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    type: Annotated[str, msgspec.Meta(max_length=32)]


class TabularSchema(Request):
    fields: Annotated[list[SchemaField], msgspec.Meta(min_length=1, max_length=1024)]


class DatasetCreate(Request):
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


class VersionOut(msgspec.Struct):
    """A view's beneficiary gets ``disclosure: "view"`` and no size, digest or receipt."""

    version: int
    size: int | None
    sha256: str | None
    receipt: dict[str, Any] | None
    dataset_id: str
    media_type: str
    created_at: datetime
    shredded: bool
    disclosure: str = "whole"
