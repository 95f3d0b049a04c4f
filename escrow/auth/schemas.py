"""Token endpoint bodies (OAuth 2.0 client credentials, JSON or form)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from escrow.schemas import Input

# Key ids and secrets this API issues are visible ASCII; anything else cannot match one.
Secretish = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")]
# A key id names an api_keys row (64 characters at most) and is what a refusal audits.
KeyId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]


class TokenRequest(Input):
    key_id: KeyId
    secret: Secretish


class ClientCredentialsForm(msgspec.Struct):
    """RFC 6749 s4.4.2; the client id and secret here (client_secret_post) or in HTTP Basic.

    Unknown parameters are ignored (RFC 6749 s3.2), so the form is open, unlike ``Input``.
    """

    grant_type: Literal["client_credentials"]
    # Form fields are present or absent, never null: UNSET keeps null out of the schema.
    client_id: KeyId | UnsetType = UNSET
    client_secret: Secretish | UnsetType = UNSET
    scope: Annotated[str, msgspec.Meta(max_length=1024)] | UnsetType = UNSET  # ignored: roles


class TokenOut(msgspec.Struct):
    access_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


class RevokeRequest(Input):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    token_type_hint: Annotated[str, msgspec.Meta(max_length=64)] | None = None  # RFC 7009: a hint


class RevocationForm(msgspec.Struct):
    """RFC 7009 s2.1; the client id and secret here (client_secret_post) or in HTTP Basic."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    token_type_hint: Annotated[str, msgspec.Meta(max_length=64)] | UnsetType = UNSET
    client_id: KeyId | UnsetType = UNSET
    client_secret: Secretish | UnsetType = UNSET


class RevokedOut(msgspec.Struct):
    status: Literal["revoked"] = "revoked"


class OAuthErrorOut(msgspec.Struct):
    """RFC 6749 s5.2 (and RFC 7009 s2.2.1) error body."""

    error: Literal[
        "invalid_request",
        "invalid_client",
        "unsupported_grant_type",
        "unauthorized_client",
        "slow_down",
    ]
    error_description: str


class AuthorizationServerMetadata(msgspec.Struct):
    """RFC 8414 s2: what an OAuth client needs to find and use the endpoints."""

    issuer: str
    token_endpoint: str
    revocation_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    response_types_supported: list[str]  # required by RFC 8414; none: no authorization endpoint
    service_documentation: str


class WhoAmIOut(msgspec.Struct):
    id: str
    org: str
    org_id: str
    kind: str
    roles: list[str]
    key_id: str | None
