"""What the member use cases return: members and service accounts, and their API keys.

Built inside the use case while its session is open (see escrow/orgs/results.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from storage.models import ApiKey, Principal


@dataclass(frozen=True, slots=True)
class Member:
    """A principal of an organization: a person (kind "user") or a service account (kind
    "service"); both are the members package's to manage."""

    id: str
    org: str  # the organization's slug
    kind: str
    name: str
    roles: tuple[str, ...]
    status: str
    created_at: datetime
    email: str | None


@dataclass(frozen=True, slots=True)
class KeySummary:
    """An API key as it is listed: never its secret."""

    key_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A freshly issued API key: the only moment its secret exists outside its holder."""

    key_id: str
    secret: str = field(repr=False)  # kept out of logs and tracebacks
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CreatedMember:
    """A new principal; ``key`` is set when an operator seeded an organization's first admin
    (it cannot mint one afterwards, and the admin rotates it on receipt)."""

    member: Member
    key: IssuedKey | None = None


def member_of(row: Principal, org_slug: str) -> Member:
    return Member(
        id=row.id,
        org=org_slug,
        kind=row.kind,
        name=row.name,
        roles=tuple(row.roles),
        status=row.status,
        created_at=row.created_at,
        email=row.email,
    )


def key_summary_of(row: ApiKey) -> KeySummary:
    return KeySummary(row.id, row.created_at, row.expires_at, row.revoked_at, row.last_used_at)
