"""Token endpoint bodies (OAuth 2.0 client credentials, JSON or form)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from escrow.schemas import Input

# Key ids and secrets this API issues are visible ASCII; anything else cannot match one.
Secretish = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")]
# A key id names an api_keys row (64 characters at most) and is what a refusal audits.
KeyId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]


class TokenRequest(Input):
    key_id: KeyId
    secret: Secretish


class ClientCredentialsForm(Input):
    grant_type: Literal["client_credentials"]
    client_id: KeyId
    client_secret: Secretish
    scope: Annotated[str, msgspec.Meta(max_length=1024)] | None = None  # ignored: keys carry roles


class TokenOut(msgspec.Struct):
    access_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


class RevokeRequest(Input):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    token_type_hint: Annotated[str, msgspec.Meta(max_length=64)] | None = None  # RFC 7009: a hint


class WhoAmIOut(msgspec.Struct):
    id: str
    org: str
    org_id: str
    kind: str
    roles: list[str]
    key_id: str | None
