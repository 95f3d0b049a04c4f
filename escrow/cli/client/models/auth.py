"""Token exchange and whoami bodies."""

from __future__ import annotations

from typing import Annotated

import msgspec

from escrow.cli.client.models import Request

# Key ids and secrets the API issues are visible ASCII; anything else cannot match one.
Secretish = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")]
KeyId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]


class TokenRequest(Request):
    key_id: KeyId
    secret: Secretish


class TokenOut(msgspec.Struct):
    access_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret


class WhoAmIOut(msgspec.Struct):
    id: str
    org: str
    org_id: str
    kind: str
    roles: list[str]
    key_id: str | None
