"""What the service needs from whoever holds its keys: the ``KeyManager`` interface.

Two implementations: ``Keyring`` (one 0600 file, the embedded default) and
``Pkcs11KeyManager`` (KEKs generated in a PKCS#11 token that never lets them out). Both wrap
data keys into the same ``WrappedDataKey`` envelope, so stored rows do not depend on which
one wrapped them, and both follow the same KEK lifecycle::

    staged -> active -> decrypt-only -> retired

``staged`` unwraps but never wraps; exactly one KEK is ``active`` and wraps new data keys;
``decrypt-only`` unwraps until ``rewrap`` has moved its data keys away; ``retired`` KEKs are
destroyed, and data keys still wrapped under them are unrecoverable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from crypto.envelope import WrappedDataKey
from crypto.signing import ServiceSigner, TokenSigningKey
from crypto.signing_keys import SigningKeyInfo, SigningKeyKind
from crypto.stream import DEFAULT_SEGMENT_SIZE, StreamingAead

__all__ = ["KekInfo", "KekState", "KeyManager"]

KekState = Literal["staged", "active", "decrypt-only", "retired"]


@dataclass(frozen=True, slots=True)
class KekInfo:
    """A key encryption key's id and lifecycle state (never its material)."""

    kek_id: str
    state: KekState


class KeyManager(Protocol):
    """KEKs and their lifecycle, envelope encryption of data keys, and the service's signers.

    Keys never leave as bytes: callers get a StreamingAead, a signer or a keyed digest. Every
    lifecycle change is visible to other processes sharing the same keys after ``reload`` (or
    at once when they meet a KEK id they do not know yet).
    """

    def keks(self) -> list[KekInfo]:
        """Every KEK this manager knows, with its lifecycle state."""
        ...

    @property
    def active_kek_id(self) -> str:
        """The one KEK that wraps new data keys."""
        ...

    def stage(self) -> str:
        """Adds a KEK that unwraps but does not wrap yet; returns its id."""
        ...

    def promote(self, kek_id: str) -> None:
        """Makes a staged (or decrypt-only) KEK active; the old one becomes decrypt-only."""
        ...

    def rotate(self) -> str:
        """Makes a new KEK active (the old one becomes decrypt-only); returns its id."""
        ...

    def retire(self, kek_id: str) -> None:
        """Destroys a non-active KEK for good; data keys still under it become unrecoverable."""
        ...

    def reload(self) -> None:
        """Picks up lifecycle changes made by other processes."""
        ...

    def new_data_key(
        self, associated_data: bytes, *, segment_size: int = DEFAULT_SEGMENT_SIZE
    ) -> tuple[WrappedDataKey, StreamingAead]:
        """A fresh random DEK, wrapped under the active KEK and bound to the associated data."""
        ...

    def open_data_key(
        self,
        wrapped: WrappedDataKey,
        associated_data: bytes,
        *,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
    ) -> StreamingAead:
        """Fails closed: UnknownKeyError, RetiredKeyError, or IntegrityError for a bad wrap."""
        ...

    def rewrap(self, wrapped: WrappedDataKey, associated_data: bytes) -> WrappedDataKey:
        """The same DEK wrapped under the active KEK; the data itself is untouched."""
        ...

    @property
    def service_signer(self) -> ServiceSigner:
        """The Ed25519 key that signs receipts and audit checkpoints."""
        ...

    @property
    def token_signing_key(self) -> TokenSigningKey:
        """The separate Ed25519 key that signs access tokens."""
        ...

    def keyed_digest(self, data: bytes) -> str:
        """HMAC-SHA256 of ``data`` under the audit MAC key, as hex; the key never leaves."""
        ...

    def signing_keys(self, kind: SigningKeyKind) -> list[SigningKeyInfo]:
        """Every receipt or token key with its state and validity, oldest first (public)."""
        ...

    def verification_keys(self, kind: SigningKeyKind) -> dict[str, SigningKeyInfo]:
        """The keys whose signatures are accepted, by key id."""
        ...

    def stage_signing_key(self, kind: SigningKeyKind, *, at: datetime) -> str:
        """Adds a published key that signs nothing yet; its id."""
        ...

    def promote_signing_key(self, kind: SigningKeyKind, key_id: str, *, at: datetime) -> None:
        """The staged key signs from ``at`` on; the active one becomes verify-only."""
        ...

    def retire_signing_key(self, kind: SigningKeyKind, key_id: str, *, at: datetime) -> None:
        """Erases a non-active key's private half for good."""
        ...
