"""Envelope encryption of data keys: each DEK is sealed by a KEK with AES-256-GCM.

A wrapped key is ``nonce (12 bytes) || AES-256-GCM(kek, nonce, dek, associated data)`` with
a 16-byte tag, labelled with the id of the KEK that sealed it. The associated data is the
caller's (the dataset version id), so a wrapped key only opens for the version it was made for.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crypto.errors import FormatError, IntegrityError
from crypto.stream import DataKey, _key_material
from crypto.stream_layout import KEY_SIZE

__all__ = ["KEK_ID_PATTERN", "WrappedDataKey", "unwrap_data_key", "wrap_data_key"]

KEK_ID_PATTERN: Final = re.compile(r"kek-[0-9a-f]{8}")
_NONCE_SIZE: Final = 12
_TAG_SIZE: Final = 16
_SEALED_SIZE: Final = _NONCE_SIZE + KEY_SIZE + _TAG_SIZE


@dataclass(frozen=True, slots=True)
class WrappedDataKey:
    """A DEK sealed under a named KEK: safe to store beside the data it protects.

    Its text form ``<kek id>.<base64url of nonce || ciphertext || tag>`` fits a DB column.
    """

    kek_id: str
    sealed: bytes

    def __post_init__(self) -> None:
        if not KEK_ID_PATTERN.fullmatch(self.kek_id):
            raise FormatError(f"malformed KEK id {self.kek_id!r}")
        if len(self.sealed) != _SEALED_SIZE:
            raise FormatError(f"a wrapped data key is {_SEALED_SIZE} bytes")

    def to_text(self) -> str:
        encoded = base64.urlsafe_b64encode(self.sealed).decode("ascii")
        return f"{self.kek_id}.{encoded}"

    @classmethod
    def parse(cls, text: str) -> WrappedDataKey:
        """Inverse of to_text; FormatError for anything to_text could not have produced."""
        kek_id, dot, encoded = text.partition(".")
        if not dot:
            raise FormatError("wrapped data key lacks the '.' separator")
        try:
            sealed = base64.b64decode(encoded, altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise FormatError("wrapped data key is not base64url") from None
        wrapped = cls(kek_id, sealed)
        if wrapped.to_text() != text:
            raise FormatError("wrapped data key is not in canonical form")
        return wrapped


def wrap_data_key(
    kek: bytes, kek_id: str, data_key: DataKey, associated_data: bytes
) -> WrappedDataKey:
    """Seals the DEK under the KEK with a fresh random nonce, bound to the associated data."""
    nonce = os.urandom(_NONCE_SIZE)
    sealed = AESGCM(kek).encrypt(nonce, _key_material(data_key), associated_data)
    return WrappedDataKey(kek_id, nonce + sealed)


def unwrap_data_key(kek: bytes, wrapped: WrappedDataKey, associated_data: bytes) -> DataKey:
    """Fails closed: IntegrityError unless the wrap is intact and made for this associated data."""
    nonce, sealed = wrapped.sealed[:_NONCE_SIZE], wrapped.sealed[_NONCE_SIZE:]
    try:
        material = AESGCM(kek).decrypt(nonce, sealed, associated_data)
    except InvalidTag:
        raise IntegrityError(
            f"wrapped data key under {wrapped.kek_id} failed authentication "
            "(tampered, or made for other associated data)"
        ) from None
    return DataKey(material)
