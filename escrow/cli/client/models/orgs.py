"""Organization bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from escrow.cli.client.models import Name, Request, Slug

Tier = Literal["strategic", "core", "complementary", "ancillary"]


class OrgCreate(Request):
    slug: Slug
    name: Name
    tier: Tier


class OrgUpdate(Request):
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
