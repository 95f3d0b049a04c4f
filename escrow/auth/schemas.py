"""Token endpoint bodies (OAuth 2.0 client credentials, JSON or form)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from escrow.schemas import Input

Secretish = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class TokenRequest(Input):
    key_id: Secretish
    secret: Secretish


class ClientCredentialsForm(Input):
    grant_type: Literal["client_credentials"]
    client_id: Secretish
    client_secret: Secretish
    scope: str | None = None


class TokenOut(msgspec.Struct):
    access_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


class RevokeRequest(Input):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    token_type_hint: str | None = None


class WhoAmIOut(msgspec.Struct):
    id: str
    org: str
    org_id: str
    kind: str
    roles: list[str]
    key_id: str | None
