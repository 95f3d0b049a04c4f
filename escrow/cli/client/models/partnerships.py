"""Partnership bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from escrow.cli.client.models import Request, Slug


class PartnershipCreate(Request):
    orgs: Annotated[list[Slug], msgspec.Meta(min_length=2, max_length=2)]
    kind: Annotated[str, msgspec.Meta(min_length=2, max_length=40)]


class PartnershipOut(msgspec.Struct):
    id: str
    orgs: list[str]
    kind: str
    status: str
    created_at: datetime
    ended_at: datetime | None
