"""Short-lived signed file URLs: HMAC-SHA256 over agreement, file, version, view and expiry.

The URL carries its own claims, so serving it needs no stored state beyond the rows it
names; the server still checks on every fetch that the agreement, the profile and the file
are live, so a URL dies with the agreement even before it expires.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from escrow.errors import ForbiddenError

_LABEL = b"escrow:delta-sharing:signed-url:v1\n"
_KEY_LABEL = b"escrow:delta-sharing:signed-url-key:v1"
MAX_TOKEN_LENGTH = 1024


@dataclass(frozen=True)
class FileClaims:
    agreement_id: str
    file_id: str
    version: int
    view_sha256: str
    profile_id: str
    session_id: str  # one per query response: fetches under it are one download
    expires: int  # unix seconds

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expires, tz=UTC)


class UrlSigner:
    """Signs and checks file URL tokens under a key derived from the keyring's MAC key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def derived(cls, keyed_digest: Callable[[bytes], str]) -> UrlSigner:
        """A key of its own, derived (HMAC as a PRF) from the keyring's MAC key and a label."""
        return cls(bytes.fromhex(keyed_digest(_KEY_LABEL)))

    def sign(self, claims: FileClaims) -> str:
        body = _b64(json.dumps(asdict(claims), separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{_b64(self._mac(body))}"

    def open(self, token: str, now: datetime) -> FileClaims:
        """Fails closed: a token not signed by us or past its expiry is refused (403)."""
        body, _, signature = token.partition(".")
        if len(token) > MAX_TOKEN_LENGTH or not body or not signature:
            raise ForbiddenError("this file URL is not valid", reason="bad_url")
        mac = hmac.HMAC(self._key, hashes.SHA256())
        mac.update(_LABEL + body.encode())
        try:
            mac.verify(_unb64(signature))
            claims = FileClaims(**json.loads(_unb64(body)))
        except (InvalidSignature, ValueError, TypeError, binascii.Error):
            raise ForbiddenError("this file URL is not valid", reason="bad_url") from None
        if claims.expires <= int(now.timestamp()):
            raise ForbiddenError("this file URL has expired", reason="expired_url")
        return claims

    def _mac(self, body: str) -> bytes:
        mac = hmac.HMAC(self._key, hashes.SHA256())
        mac.update(_LABEL + body.encode())
        return mac.finalize()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
