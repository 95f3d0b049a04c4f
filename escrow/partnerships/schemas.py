"""Partnership request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from escrow.partnerships.results import PartnershipRecord
from escrow.partnerships.service import KIND_PATTERN
from escrow.schemas import Input, Slug


class PartnershipCreate(Input):
    orgs: Annotated[list[Slug], msgspec.Meta(min_length=2, max_length=2)]
    kind: Annotated[  # the pattern is documented; the service checks it (422)
        str,
        msgspec.Meta(
            min_length=2, max_length=40, extra_json_schema={"pattern": KIND_PATTERN.pattern}
        ),
    ]


class PartnershipOut(msgspec.Struct):
    id: str
    orgs: list[str]
    kind: str
    status: str
    created_at: datetime
    ended_at: datetime | None

    @classmethod
    def of(cls, partnership: PartnershipRecord) -> PartnershipOut:
        return cls(
            id=partnership.id,
            orgs=list(partnership.orgs),
            kind=partnership.kind,
            status=partnership.status,
            created_at=partnership.created_at,
            ended_at=partnership.ended_at,
        )
