"""Recipient bearer tokens: generated here, shown once, stored only as scrypt hashes.

A token names its profile (``eds1.<profile id>.<secret>``) so that checking it costs one
row read and one slow hash; a verified (token, stored hash) pair is remembered in this
process so that a connector's dozens of calls do not pay scrypt each time. Revocation and
expiry are read from the row on every call, so the memory never outlives a revocation.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from escrow.auth.secrets import burn_equivalent_time, hash_secret, verify_secret

PREFIX = "eds1"
_TOKEN = re.compile(r"^eds1\.([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$")
_REMEMBERED = 4096  # verified tokens kept per process


@dataclass(frozen=True)
class IssuedToken:
    token: str
    secret_hash: str


def issue(profile_id: str) -> IssuedToken:
    secret = secrets.token_urlsafe(32)
    return IssuedToken(f"{PREFIX}.{profile_id}.{secret}", hash_secret(secret))


def profile_id_of(token: str) -> str | None:
    """The profile a well-formed token names; None for anything else (a JWT, garbage)."""
    match = _TOKEN.match(token)
    return match.group(1) if match else None


class VerifiedTokens:
    """Constant time per token: scrypt's own verify; the cache key is the token's SHA-256."""

    def __init__(self, size: int = _REMEMBERED) -> None:
        self._size = size
        self._known: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str, stored_hash: str | None) -> bool:
        """Fails closed: an unknown profile (``stored_hash`` None) costs a hash all the same."""
        match = _TOKEN.match(token)
        if match is None or stored_hash is None:
            burn_equivalent_time(token)
            return False
        key = hashlib.sha256(token.encode()).digest()
        with self._lock:
            if self._known.get(key) == stored_hash:
                self._known.move_to_end(key)
                return True
        if not verify_secret(match.group(2), stored_hash):
            return False
        with self._lock:
            self._known[key] = stored_hash
            while len(self._known) > self._size:
                self._known.popitem(last=False)
        return True


VERIFIED = VerifiedTokens()
