"""Organization request and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from escrow.orgs.results import Org
from escrow.schemas import Input, Name, Slug

Tier = Literal["strategic", "core", "complementary", "ancillary"]


class OrgCreate(Input):
    slug: Slug
    name: Name
    tier: Tier


class OrgUpdate(Input):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    tier: Tier | msgspec.UnsetType = msgspec.UNSET


class OrgOut(msgspec.Struct):
    id: str
    slug: str
    name: str
    tier: str
    status: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, org: Org) -> OrgOut:
        return cls(
            id=org.id,
            slug=org.slug,
            name=org.name,
            tier=org.tier,
            status=org.status,
            created_at=org.created_at,
            updated_at=org.updated_at,
        )
