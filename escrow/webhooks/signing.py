"""The ``Escrow-Signature`` header: HMAC-SHA256 over the timestamp and the exact body.

``Escrow-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]`` where each ``v1`` is
``HMAC-SHA256(key=<secret as UTF-8>, message="<t>." + body)`` under one live secret of the
endpoint, newest first: during a rotation's grace period there are two, so a receiver that
still holds the previous secret keeps verifying while it switches (the Stripe scheme).
Receivers compare in constant time and reject a ``t`` far from their clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

SIGNATURE_HEADER = "Escrow-Signature"
EVENT_ID_HEADER = "Escrow-Event-Id"
EVENT_TYPE_HEADER = "Escrow-Event-Type"
DELIVERY_ID_HEADER = "Escrow-Delivery-Id"
ATTEMPT_HEADER = "Escrow-Delivery-Attempt"
SCHEME = "v1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>." + body`` under ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """Fails closed: refuses to produce a header without a signature (never sends unsigned)."""
    if not secrets:
        raise ValueError("an endpoint without a live secret cannot be signed for")
    signed = ",".join(f"{SCHEME}={signature(secret, timestamp, body)}" for secret in secrets)
    return f"t={timestamp},{signed}"
