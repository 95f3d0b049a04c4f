"""API-key secrets: generated here, shown once, stored only as scrypt hashes."""

from __future__ import annotations

import base64
import os
import secrets

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

# scrypt cost: about 30 ms on this machine's cores, small enough for token issuance.
SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_LEN = 2**14, 8, 1, 32
KEY_ID_PREFIX, SECRET_PREFIX = "pek_", "pes_"


def new_key_id() -> str:
    return KEY_ID_PREFIX + secrets.token_hex(12)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_secret(secret: str) -> str:
    salt = os.urandom(16)
    digest = Scrypt(salt=salt, length=HASH_LEN, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(
        secret.encode()
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    """Constant time: the comparison is scrypt's own verify; malformed hashes never match."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        kdf = Scrypt(salt=base64.b64decode(salt), length=HASH_LEN, n=int(n), r=int(r), p=int(p))
        kdf.verify(secret.encode(), base64.b64decode(digest))
    except (ValueError, InvalidKey):
        return False
    return True


# A hash computed once so that unknown key ids cost as much as known ones (no timing oracle).
_DUMMY_HASH = hash_secret(new_secret())


def burn_equivalent_time(secret: str) -> None:
    verify_secret(secret, _DUMMY_HASH)
