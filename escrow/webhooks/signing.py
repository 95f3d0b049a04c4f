"""Standard Webhooks signatures (https://www.standardwebhooks.com/, spec v1).

Each delivery carries ``webhook-id`` (the event id: the same on every retry and redelivery,
so receivers deduplicate on it), ``webhook-timestamp`` (unix seconds) and
``webhook-signature: v1,<base64>[ v1,<base64>]``, each signature
``HMAC-SHA256(key, "<id>.<timestamp>." + body)`` under one live secret of the endpoint,
newest first: two during a rotation's grace period, so a receiver holding either verifies.
Receivers use any Standard Webhooks library (``standardwebhooks`` on PyPI).

Secrets are ``whsec_`` + standard base64 of 32 random bytes, the raw HMAC key. Endpoints made
before this scheme hold ``whsec_`` + unpadded base64url text, which always signed with its
own UTF-8 bytes; such a secret keeps that key (``Webhook(secret.encode())`` verifies it),
and rotating it issues one of the standard form.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix that marks secrets, not a secret
KEY_BYTES = 32  # the spec asks for 24 to 64 random bytes
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
EVENT_TYPE_HEADER = "Escrow-Event-Type"
EVENT_ID_HEADER = "Escrow-Event-Id"  # the same as webhook-id, kept for existing receivers
DELIVERY_ID_HEADER = "Escrow-Delivery-Id"
ATTEMPT_HEADER = "Escrow-Delivery-Attempt"
SCHEME = "v1"


def new_secret() -> str:
    """A fresh secret in the Standard Webhooks form: ``whsec_`` + base64 of the raw key."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def signing_key(secret: str) -> bytes:
    """The HMAC key a secret stands for: the decoded base64, or a legacy secret's own text.

    Legacy secrets (43 characters of base64url after the prefix) can never be padded
    base64 (whose length is a multiple of 4), so the two forms cannot be mistaken.
    """
    encoded = secret.removeprefix(SECRET_PREFIX)
    if len(encoded) % 4 == 0:
        try:
            return base64.b64decode(encoded, validate=True)
        except binascii.Error:
            pass
    return secret.encode("utf-8")


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,`` + base64 HMAC-SHA256 of ``"<id>.<timestamp>." + body``."""
    message = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return f"{SCHEME},{base64.b64encode(digest).decode('ascii')}"


def signature_header(secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """Fails closed: refuses to produce a header without a signature (never sends unsigned)."""
    if not secrets_:
        raise ValueError("an endpoint without a live secret cannot be signed for")
    return " ".join(
        signature(signing_key(secret), message_id, timestamp, body) for secret in secrets_
    )


def signed_headers(
    secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three Standard Webhooks headers of one delivery attempt."""
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(secrets_, message_id, timestamp, body),
    }
