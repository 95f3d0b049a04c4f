"""Member, service account and API key bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from escrow.cli.client.models import Name, Request

Role = Literal["admin", "steward", "member", "auditor", "operator"]
Roles = Annotated[list[Role], msgspec.Meta(min_length=1, max_length=5)]
_EMAIL_PART = r"[^@\s\x00-\x1f\x7f-\x9f]+"
Email = Annotated[
    str, msgspec.Meta(min_length=3, max_length=320, pattern=f"^{_EMAIL_PART}@{_EMAIL_PART}$")
]


class PrincipalCreate(Request):
    name: Name
    roles: Roles
    email: Email | None = None  # members only


class RolesUpdate(Request):
    roles: Roles


class KeyRotate(Request):
    grace_seconds: Annotated[int, msgspec.Meta(ge=0, le=2_592_000)] = 3600


class IssuedKeyOut(msgspec.Struct):
    key_id: str
    secret: str
    created_at: datetime


class PrincipalOut(msgspec.Struct):
    id: str
    org: str
    kind: str
    name: str
    roles: list[str]
    status: str
    created_at: datetime
    email: str | None = None
    api_key: IssuedKeyOut | None = None  # an operator's seeded first admin: its one key


class KeyOut(msgspec.Struct):
    key_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
