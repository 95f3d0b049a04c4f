"""Recipient profile bodies (``/v1``) and the Delta Sharing protocol's JSON shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from escrow.schemas import Input
from escrow.settings import PROFILE_TTL_CEILING, PROFILE_TTL_FLOOR
from escrow.sharing.results import Profile

ProfileName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
ExpiresIn = Annotated[int, msgspec.Meta(ge=PROFILE_TTL_FLOOR, le=PROFILE_TTL_CEILING)]


class ProfileCreate(Input):
    name: ProfileName
    expires_in: ExpiresIn = 30 * 86400  # seconds


class ProfileFile(msgspec.Struct, rename="camel"):
    """The protocol's profile file: save it as ``profile.share`` (shown once)."""

    share_credentials_version: int
    endpoint: str
    bearer_token: str
    expiration_time: str


class ProfileOut(msgspec.Struct):
    id: str
    name: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, profile: Profile) -> ProfileOut:
        return cls(
            id=profile.id,
            name=profile.name,
            created_at=profile.created_at,
            expires_at=profile.expires_at,
            revoked_at=profile.revoked_at,
            last_used_at=profile.last_used_at,
        )


# ---------------------------------------------------------------------- the protocol


class ShareOut(msgspec.Struct, omit_defaults=True):
    name: str
    id: str


class ListSharesOut(msgspec.Struct, rename="camel", omit_defaults=True):
    items: list[ShareOut]
    next_page_token: str | None = None


class GetShareOut(msgspec.Struct):
    share: ShareOut


class SchemaOut(msgspec.Struct):
    name: str
    share: str


class ListSchemasOut(msgspec.Struct, rename="camel", omit_defaults=True):
    items: list[SchemaOut]
    next_page_token: str | None = None


class TableOut(msgspec.Struct, rename="camel"):
    name: str
    schema: str
    share: str
    share_id: str
    id: str


class ListTablesOut(msgspec.Struct, rename="camel", omit_defaults=True):
    items: list[TableOut]
    next_page_token: str | None = None


class QueryBody(msgspec.Struct, rename="camel", kw_only=True):
    """A query; hints may be ignored (the protocol makes them best effort), results never
    exceed the view. Fields of other protocol features are accepted and refused by value."""

    predicate_hints: list[str] | None = None
    json_predicate_hints: str | None = None
    limit_hint: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)] | None = None
    version: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] | None = None
    timestamp: str | None = None
    starting_version: int | None = None
    ending_version: int | None = None


class ProtocolError(msgspec.Struct, rename="camel"):
    error_code: str
    message: str
