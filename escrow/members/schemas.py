"""Member, service account and API key bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from escrow.members.results import CreatedMember, IssuedKey, KeySummary, Member
from escrow.schemas import Input, Name

Role = Literal["admin", "steward", "member", "auditor", "operator"]
Roles = Annotated[list[Role], msgspec.Meta(min_length=1, max_length=5)]
# Spelled out rather than \s, whose meaning differs between Python and JSON Schema regexes.
_EMAIL_PART = r"[^@\s\x00-\x1f\x7f-\x9f]+"
Email = Annotated[
    str, msgspec.Meta(min_length=3, max_length=320, pattern=f"^{_EMAIL_PART}@{_EMAIL_PART}$")
]


class PrincipalCreate(Input):
    name: Name
    roles: Roles
    email: Email | None = None  # members only


class RolesUpdate(Input):
    roles: Roles


class KeyRotate(Input):
    grace_seconds: Annotated[int, msgspec.Meta(ge=0, le=2_592_000)] = 3600


class PrincipalOut(msgspec.Struct):
    id: str
    org: str
    kind: str
    name: str
    roles: list[str]
    status: str
    created_at: datetime
    email: str | None = None
    # Only when an operator seeded the organization's first admin: its one key, shown once.
    api_key: IssuedKeyOut | None = None

    @classmethod
    def created(cls, created: CreatedMember) -> PrincipalOut:
        out = cls.of(created.member)
        if created.key is not None:
            out.api_key = IssuedKeyOut.of(created.key)
        return out

    @classmethod
    def of(cls, member: Member) -> PrincipalOut:
        return cls(
            id=member.id,
            org=member.org,
            kind=member.kind,
            name=member.name,
            roles=list(member.roles),
            status=member.status,
            created_at=member.created_at,
            email=member.email,
        )


class KeyOut(msgspec.Struct):
    key_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, key: KeySummary) -> KeyOut:
        return cls(key.key_id, key.created_at, key.expires_at, key.revoked_at, key.last_used_at)


class IssuedKeyOut(msgspec.Struct):
    """The secret appears here once and is never retrievable again."""

    key_id: str
    secret: str
    created_at: datetime

    @classmethod
    def of(cls, issued: IssuedKey) -> IssuedKeyOut:
        return cls(issued.key_id, issued.secret, issued.created_at)
