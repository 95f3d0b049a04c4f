"""The keyring: key encryption keys (KEKs) and the service's signing and MAC keys.

They are kept in one 0600 file, whose format ``crypto.keyring_file`` reads and writes.

KEK lifecycle: ``staged`` (after ``stage``: unwraps but never wraps, so every replica can
hold it before any DEK uses it) -> ``active`` (wraps and unwraps; exactly one; ``promote``
or ``rotate``) -> ``decrypt-only`` (unwraps, and ``rewrap`` moves its DEKs to the active
KEK) -> ``retired`` (its material is erased from the file: DEKs still wrapped under it are
unrecoverable). Staging first is Tink's "add the key, then make it primary": no replica ever
meets a DEK wrapped under a KEK it does not have.

Keys never leave this object as bytes: callers get a StreamingAead, a ServiceSigner, a
TokenSigningKey or a keyed digest. One process should change the file at a time; every change
re-reads the file first so that changes made by another process are kept.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from cryptography.hazmat.primitives import hashes, hmac

from crypto import signing_keys
from crypto.envelope import WrappedDataKey, unwrap_data_key, wrap_data_key
from crypto.errors import KeyringError, RetiredKeyError, UnknownKeyError
from crypto.key_manager import KekInfo
from crypto.keyring_file import (
    KEY_SIZE,
    KekEntry,
    KeyringContents,
    Stamp,
    new_kek_id,
    read_contents,
    stamp_of,
)
from crypto.private_file import write_private_file
from crypto.signing import ServiceSigner, TokenSigningKey
from crypto.signing_keys import KINDS, SigningKeyInfo, SigningKeyKind
from crypto.stream import DEFAULT_SEGMENT_SIZE, DataKey, StreamingAead

__all__ = ["Keyring"]

_T = TypeVar("_T")


class Keyring:
    """KEKs plus the receipt-signing, token-signing and audit MAC keys, backed by one file.

    Build it with ``create``, ``load`` or ``load_or_create``.
    """

    __slots__ = (
        "_lock",
        "_path",
        "_service_signer",
        "_signing_infos",
        "_stamp",
        "_state",
        "_token_key",
    )

    def __init__(self, path: Path, state: KeyringContents, stamp: Stamp | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._install(state, stamp)

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> Keyring:
        """Generates every key afresh into a new 0600 file; KeyringError if the file exists."""
        target, state = Path(path), KeyringContents.generate()
        try:
            write_private_file(target, state.to_json(), replace=False)
        except FileExistsError:
            raise KeyringError(f"{target} already exists; refusing to overwrite keys") from None
        return cls(target, state, stamp_of(target))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Keyring:
        """Fails closed: refuses a file others may access, or one that is not a valid keyring."""
        target = Path(path)
        stamp = stamp_of(target)
        return cls(target, read_contents(target), stamp)

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> Keyring:
        target = Path(path)
        if target.exists():
            return cls.load(target)
        try:
            return cls.create(target)
        except KeyringError:
            if target.exists():  # another process created it first
                return cls.load(target)
            raise

    def __repr__(self) -> str:
        return f"Keyring({str(self._path)!r}, active={self.active_kek_id!r})"

    @property
    def path(self) -> Path:
        return self._path

    def reload(self) -> None:
        """Re-reads the file, picking up rotations made by other processes."""
        with self._lock:
            stamp = stamp_of(self._path)
            self._install(read_contents(self._path), stamp)

    def keks(self) -> list[KekInfo]:
        return [KekInfo(kek.kek_id, kek.state) for kek in self._state.keks]

    @property
    def active_kek_id(self) -> str:
        return self._state.active().kek_id

    def new_data_key(
        self, associated_data: bytes, *, segment_size: int = DEFAULT_SEGMENT_SIZE
    ) -> tuple[WrappedDataKey, StreamingAead]:
        """A fresh random DEK, wrapped under the active KEK and bound to the associated data."""
        kek_id, kek = self._state.active_key()
        data_key = DataKey.generate()
        wrapped = wrap_data_key(kek, kek_id, data_key, associated_data)
        return wrapped, StreamingAead(data_key, segment_size=segment_size)

    def open_data_key(
        self,
        wrapped: WrappedDataKey,
        associated_data: bytes,
        *,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
    ) -> StreamingAead:
        """Fails closed: UnknownKeyError, RetiredKeyError, or IntegrityError for a bad wrap."""
        data_key = unwrap_data_key(self._kek_material(wrapped.kek_id), wrapped, associated_data)
        return StreamingAead(data_key, segment_size=segment_size)

    def rewrap(self, wrapped: WrappedDataKey, associated_data: bytes) -> WrappedDataKey:
        """The same DEK wrapped under the active KEK; the data itself is untouched."""
        data_key = unwrap_data_key(self._kek_material(wrapped.kek_id), wrapped, associated_data)
        kek_id, kek = self._state.active_key()
        if wrapped.kek_id == kek_id:
            return wrapped
        return wrap_data_key(kek, kek_id, data_key, associated_data)

    def rotate(self) -> str:
        """Makes a new active KEK (the old one becomes decrypt-only), persisted; returns its id."""

        def change(state: KeyringContents) -> str:
            state.active().state = "decrypt-only"
            kek_id = new_kek_id({kek.kek_id for kek in state.keks})
            state.keks.append(KekEntry(kek_id, "active", os.urandom(KEY_SIZE)))
            return kek_id

        return self._mutate(change)

    def stage(self) -> str:
        """Adds a new KEK that unwraps but does not wrap yet, persisted; returns its id."""

        def change(state: KeyringContents) -> str:
            kek_id = new_kek_id({kek.kek_id for kek in state.keks})
            state.keks.append(KekEntry(kek_id, "staged", os.urandom(KEY_SIZE)))
            return kek_id

        return self._mutate(change)

    def promote(self, kek_id: str) -> None:
        """Makes a staged (or decrypt-only) KEK the active one; the old one becomes decrypt-only."""

        def change(state: KeyringContents) -> None:
            kek = state.find(kek_id)
            if kek is None:
                raise UnknownKeyError(f"no KEK {kek_id!r} in {self._path}")
            if kek.material is None:
                raise RetiredKeyError(f"KEK {kek_id} is retired and cannot become active")
            if kek.state == "active":
                return
            state.active().state = "decrypt-only"
            kek.state = "active"

        self._mutate(change)

    def retire(self, kek_id: str) -> None:
        """Erases a non-active KEK's material for good; DEKs still under it become unrecoverable."""

        def change(state: KeyringContents) -> None:
            kek = state.find(kek_id)
            if kek is None:
                raise UnknownKeyError(f"no KEK {kek_id!r} in {self._path}")
            if kek.state == "active":
                raise KeyringError(f"{kek_id} is the active KEK; rotate before retiring it")
            kek.state, kek.material = "retired", None

        self._mutate(change)

    @property
    def service_signer(self) -> ServiceSigner:
        """The active Ed25519 key that signs receipts and audit checkpoints."""
        self._refresh()
        return self._service_signer

    @property
    def token_signing_key(self) -> TokenSigningKey:
        """The active, separate Ed25519 key that signs access tokens."""
        self._refresh()
        return self._token_key

    def signing_keys(self, kind: SigningKeyKind) -> list[SigningKeyInfo]:
        """Every ``kind`` key with its state and validity, oldest first (public halves only).

        Sees changes made by other processes to the file (stage, promote, retire).
        """
        self._refresh()
        return list(self._signing_infos[kind])

    def verification_keys(self, kind: SigningKeyKind) -> dict[str, SigningKeyInfo]:
        """The keys whose signatures are accepted, by key id: every receipt key; token keys
        until retired (staged ones included, so a replica that promoted first is trusted)."""
        return {info.key_id: info for info in self.signing_keys(kind) if info.verifies}

    def stage_signing_key(self, kind: SigningKeyKind, *, at: datetime) -> str:
        """Adds a ``kind`` key that is published but signs nothing yet, persisted; its id."""
        return self._mutate(lambda state: signing_keys.stage(state.signing[kind], at))

    def promote_signing_key(self, kind: SigningKeyKind, key_id: str, *, at: datetime) -> None:
        """The staged key signs from ``at`` on; the active one becomes verify-only."""
        self._mutate(lambda state: signing_keys.promote(state.signing[kind], kind, key_id, at))

    def retire_signing_key(self, kind: SigningKeyKind, key_id: str, *, at: datetime) -> None:
        """Erases a non-active key's seed for good; a retired token key verifies no more
        tokens, a retired receipt key's public half stays published with its validity."""
        self._mutate(lambda state: signing_keys.retire(state.signing[kind], kind, key_id, at))

    def keyed_digest(self, data: bytes) -> str:
        """HMAC-SHA256 of ``data`` under the audit MAC key, as hex; the key never leaves."""
        mac = hmac.HMAC(self._state.audit_hmac_key, hashes.SHA256())
        mac.update(data)
        return mac.finalize().hex()

    def _kek_material(self, kek_id: str) -> bytes:
        kek = self._state.find(kek_id)
        if kek is None:  # perhaps another process rotated: look at the file once more
            self.reload()
            kek = self._state.find(kek_id)
        if kek is None:
            raise UnknownKeyError(f"no KEK {kek_id!r} in {self._path}")
        if kek.material is None:
            raise RetiredKeyError(f"KEK {kek_id} is retired; data keys under it are gone")
        return kek.material

    def _mutate(self, change: Callable[[KeyringContents], _T]) -> _T:
        with self._lock:
            state = read_contents(self._path)
            result = change(state)
            write_private_file(self._path, state.to_json(), replace=True)
            self._install(state, stamp_of(self._path))
            return result

    def _install(self, state: KeyringContents, stamp: Stamp | None) -> None:
        self._state = state
        self._service_signer = ServiceSigner(state.signer_key("receipt"))
        self._token_key = TokenSigningKey(state.signer_key("token"))
        # Built once per change: token verification reads these on every request.
        self._signing_infos = {
            kind: tuple(key.info(kind) for key in state.signing[kind]) for kind in KINDS
        }
        self._stamp = stamp

    def _refresh(self) -> None:
        """Re-reads the file if it was replaced (a change by another process): one stat."""
        stamp = stamp_of(self._path)
        if stamp is None or stamp == self._stamp:
            return  # unchanged, or gone from disk: a removed file changes no key
        with self._lock:
            if stamp_of(self._path) != self._stamp:
                self._install(read_contents(self._path), stamp)
