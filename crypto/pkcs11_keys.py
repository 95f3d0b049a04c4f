"""KEKs in a PKCS#11 token (an HSM; SoftHSM2 in tests): made there, used there, never out.

Each KEK is an AES-256 secret key object generated in the token (sensitive, never
extractable), with ``CKA_ID`` its KEK id and ``CKA_LABEL`` its id and lifecycle state::

    kek-1a2b3c4d:staged          unwraps, never wraps
    kek-5e6f7a8b:promoted:2      the highest promotion is active; the others decrypt-only
    kek-9c0d1e2f:retired         a data object left where a destroyed key was

Keeping the state on the token means every process logged in to it agrees, and a promotion is
one attribute write (a new, highest promotion number), so no moment has two active KEKs or
none. Retiring destroys the key object. A process re-reads the token's KEKs on ``reload`` and
whenever it meets a KEK id it does not know, so a KEK staged or promoted by another process
(``escrow keys``, another replica) is used without a restart.

Data keys are wrapped by AES-256-GCM inside the token with a random 96-bit nonce and the
caller's associated data, into the same ``nonce || ciphertext || tag`` envelope as the keyring
file's: a ``WrappedDataKey`` does not say, and need not know, which manager made it.

The receipt and token signing keys and the audit MAC key stay in a keyring file that the
manager is given; only its signers and keyed digest are used, never its KEKs.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Final, TypeVar

from crypto.envelope import KEK_ID_PATTERN, WrappedDataKey
from crypto.errors import IntegrityError, KeyringError, RetiredKeyError, UnknownKeyError
from crypto.key_manager import KekInfo, KekState
from crypto.keyring import Keyring
from crypto.pkcs11_token import StaleKeyError, TokenKey, TokenSession
from crypto.private_file import read_private_file
from crypto.signing import ServiceSigner, TokenSigningKey
from crypto.signing_keys import SigningKeyInfo, SigningKeyKind
from crypto.stream import DEFAULT_SEGMENT_SIZE, DataKey, StreamingAead, _key_material

__all__ = ["Pkcs11KeyManager"]

_NONCE_SIZE: Final = 12
_KEY_LABEL: Final = re.compile(r"(kek-[0-9a-f]{8}):(?:(staged)|promoted:([0-9]{1,9}))")
_RETIRED_LABEL: Final = re.compile(r"(kek-[0-9a-f]{8}):retired")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _TokenKek:
    kek_id: str
    promotion: int | None  # None while staged
    key: TokenKey


@dataclass(frozen=True, slots=True)
class _View:
    """The token's KEKs as one process last read them."""

    keks: dict[str, _TokenKek]
    retired: frozenset[str]

    @property
    def active(self) -> _TokenKek | None:
        promoted = [kek for kek in self.keks.values() if kek.promotion is not None]
        return max(promoted, key=lambda kek: (kek.promotion, kek.kek_id), default=None)

    @property
    def next_promotion(self) -> int:
        return max((kek.promotion or 0 for kek in self.keks.values()), default=0) + 1

    def state(self, kek: _TokenKek) -> KekState:
        if kek.promotion is None:
            return "staged"
        return "active" if kek is self.active else "decrypt-only"

    def new_kek_id(self) -> str:
        while True:
            kek_id = f"kek-{os.urandom(4).hex()}"
            if kek_id not in self.keks and kek_id not in self.retired:
                return kek_id


def _read_view(session: TokenSession) -> _View:
    """Fails closed: KeyringError if two key objects claim one KEK id."""
    retired = frozenset(
        match.group(1)
        for label in session.data_labels()
        if (match := _RETIRED_LABEL.fullmatch(label))
    )
    keks: dict[str, _TokenKek] = {}
    for key in session.aes_keys():
        match = _KEY_LABEL.fullmatch(key.label)
        if match is None or key.key_id != match.group(1).encode("ascii"):
            continue  # not one of ours: the token may hold other applications' keys
        kek_id, _staged, promotion = match.groups()
        if kek_id in retired:
            continue
        if kek_id in keks:
            raise KeyringError(f"token {session.token_label!r} holds two key objects for {kek_id}")
        keks[kek_id] = _TokenKek(kek_id, int(promotion) if promotion else None, key)
    return _View(keks, retired)


class Pkcs11KeyManager:
    """KEKs in a PKCS#11 token, signing and MAC keys from a keyring file; a ``KeyManager``.

    Build it with ``open``; ``close`` it (or use it as a context manager) to log out.
    """

    __slots__ = ("_keyring", "_lock", "_session", "_view")

    def __init__(self, session: TokenSession, keyring: Keyring) -> None:
        self._session = session
        self._keyring = keyring
        self._lock = threading.Lock()
        self._view = _read_view(session)

    @classmethod
    def open(
        cls,
        module: str | os.PathLike[str],
        token_label: str,
        pin_file: str | os.PathLike[str],
        keyring: Keyring,
    ) -> Pkcs11KeyManager:
        """Logs in with the PIN in ``pin_file`` (owner-only, like the keyring); makes the first
        active KEK in the token if it has none yet."""
        pin = read_private_file(Path(pin_file)).decode("utf-8").rstrip("\r\n")
        if not pin:
            raise KeyringError(f"{pin_file} holds no PIN")
        session = TokenSession(Path(module), token_label, pin)
        try:
            manager = cls(session, keyring)
            if manager._view.active is None:
                manager._add_kek(promote=True)
        except BaseException:
            session.close()
            raise
        return manager

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Pkcs11KeyManager:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        active = self._view.active
        kek_id = active.kek_id if active is not None else None
        return f"Pkcs11KeyManager({self._session!r}, active={kek_id!r})"

    def reload(self) -> None:
        """Re-reads the token's KEKs (and the keyring file), picking up other processes' changes."""
        with self._lock:
            self._view = _read_view(self._session)
        self._keyring.reload()

    def keks(self) -> list[KekInfo]:
        view = self._view
        order = {"retired": 0, "decrypt-only": 1, "active": 2, "staged": 3}
        infos = [KekInfo(kek_id, "retired") for kek_id in view.retired]
        infos += [KekInfo(kek.kek_id, view.state(kek)) for kek in view.keks.values()]
        promotions = {kek.kek_id: kek.promotion or 0 for kek in view.keks.values()}
        return sorted(infos, key=lambda i: (order[i.state], promotions.get(i.kek_id, 0), i.kek_id))

    @property
    def active_kek_id(self) -> str:
        return self._active().kek_id

    def new_data_key(
        self, associated_data: bytes, *, segment_size: int = DEFAULT_SEGMENT_SIZE
    ) -> tuple[WrappedDataKey, StreamingAead]:
        """A fresh random DEK, wrapped in the token under the active KEK, bound to the AD."""
        data_key = DataKey.generate()
        return self._wrap(data_key, associated_data), StreamingAead(
            data_key, segment_size=segment_size
        )

    def open_data_key(
        self,
        wrapped: WrappedDataKey,
        associated_data: bytes,
        *,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
    ) -> StreamingAead:
        """Fails closed: UnknownKeyError, RetiredKeyError, or IntegrityError for a bad wrap."""
        return StreamingAead(self._unwrap(wrapped, associated_data), segment_size=segment_size)

    def rewrap(self, wrapped: WrappedDataKey, associated_data: bytes) -> WrappedDataKey:
        """The same DEK wrapped under the active KEK; the data itself is untouched."""
        data_key = self._unwrap(wrapped, associated_data)
        if wrapped.kek_id == self.active_kek_id:
            return wrapped
        return self._wrap(data_key, associated_data)

    def stage(self) -> str:
        """Generates a KEK in the token that unwraps but does not wrap yet; returns its id."""
        return self._add_kek(promote=False)

    def rotate(self) -> str:
        """Generates a KEK in the token and makes it active; returns its id."""
        return self._add_kek(promote=True)

    def promote(self, kek_id: str) -> None:
        """Makes a staged (or decrypt-only) KEK active; the old one becomes decrypt-only."""
        with self._lock:
            view = _read_view(self._session)
            kek = self._known(view, kek_id)
            if kek is not view.active:
                label = f"{kek_id}:promoted:{view.next_promotion}"
                self._session.relabel(kek.key, label)
            self._view = _read_view(self._session)

    def retire(self, kek_id: str) -> None:
        """Destroys a non-active KEK in the token; DEKs still under it become unrecoverable."""
        with self._lock:
            view = _read_view(self._session)
            if kek_id in view.retired:
                return
            kek = self._known(view, kek_id)
            if kek is view.active:
                raise KeyringError(f"{kek_id} is the active KEK; rotate before retiring it")
            # Destroyed first: a crash before the marker leaves an unknown id, never a live key.
            self._session.destroy(kek.key)
            self._session.add_data_label(f"{kek_id}:retired")
            self._view = _read_view(self._session)

    @property
    def service_signer(self) -> ServiceSigner:
        """The Ed25519 key that signs receipts and audit checkpoints (from the keyring file)."""
        return self._keyring.service_signer

    @property
    def token_signing_key(self) -> TokenSigningKey:
        """The separate Ed25519 key that signs access tokens (from the keyring file)."""
        return self._keyring.token_signing_key

    def keyed_digest(self, data: bytes) -> str:
        """HMAC-SHA256 under the keyring file's audit MAC key, as hex; the key never leaves."""
        return self._keyring.keyed_digest(data)

    # The receipt and token signing keys rotate in the keyring file (crypto.signing_keys).

    def signing_keys(self, kind: SigningKeyKind) -> list[SigningKeyInfo]:
        return self._keyring.signing_keys(kind)

    def verification_keys(self, kind: SigningKeyKind) -> dict[str, SigningKeyInfo]:
        return self._keyring.verification_keys(kind)

    def stage_signing_key(self, kind: SigningKeyKind, *, at: datetime) -> str:
        return self._keyring.stage_signing_key(kind, at=at)

    def promote_signing_key(self, kind: SigningKeyKind, key_id: str, *, at: datetime) -> None:
        self._keyring.promote_signing_key(kind, key_id, at=at)

    def retire_signing_key(self, kind: SigningKeyKind, key_id: str, *, at: datetime) -> None:
        self._keyring.retire_signing_key(kind, key_id, at=at)

    def _add_kek(self, *, promote: bool) -> str:
        with self._lock:
            view = _read_view(self._session)
            kek_id = view.new_kek_id()
            state = f"promoted:{view.next_promotion}" if promote else "staged"
            self._session.generate_aes_key(f"{kek_id}:{state}", kek_id.encode("ascii"))
            self._view = _read_view(self._session)
            return kek_id

    def _known(self, view: _View, kek_id: str) -> _TokenKek:
        if kek_id in view.retired:
            raise RetiredKeyError(f"KEK {kek_id} is retired; data keys under it are gone")
        kek = view.keks.get(kek_id)
        if kek is None or not KEK_ID_PATTERN.fullmatch(kek_id):
            raise UnknownKeyError(f"no KEK {kek_id!r} in token {self._session.token_label!r}")
        return kek

    def _active(self) -> _TokenKek:
        active = self._view.active
        if active is None:  # open() makes one and retire() refuses it: someone else removed it
            raise KeyringError(f"token {self._session.token_label!r} has no active KEK")
        return active

    def _lookup(self, kek_id: str) -> _TokenKek:
        view = self._view
        if kek_id not in view.keks and kek_id not in view.retired:
            self.reload()  # perhaps another process staged or rotated: ask the token once more
            view = self._view
        return self._known(view, kek_id)

    def _with_reread(self, operation: Callable[[], _T]) -> _T:
        """Runs ``operation`` again after one re-read if its key object was gone (retired
        or promoted elsewhere since this process last looked)."""
        try:
            return operation()
        except StaleKeyError:
            self.reload()
            return operation()

    def _wrap(self, data_key: DataKey, associated_data: bytes) -> WrappedDataKey:
        def wrap() -> WrappedDataKey:
            active = self._active()
            nonce = os.urandom(_NONCE_SIZE)
            sealed = self._session.seal(active.key, nonce, _key_material(data_key), associated_data)
            return WrappedDataKey(active.kek_id, nonce + sealed)

        return self._with_reread(wrap)

    def _unwrap(self, wrapped: WrappedDataKey, associated_data: bytes) -> DataKey:
        """Fails closed: IntegrityError unless the wrap is intact and made for this AD."""
        nonce, sealed = wrapped.sealed[:_NONCE_SIZE], wrapped.sealed[_NONCE_SIZE:]

        def unwrap() -> DataKey:
            kek = self._lookup(wrapped.kek_id)
            try:
                return DataKey(self._session.unseal(kek.key, nonce, sealed, associated_data))
            except IntegrityError:
                raise IntegrityError(
                    f"wrapped data key under {wrapped.kek_id} failed authentication "
                    "(tampered, or made for other associated data)"
                ) from None

        return self._with_reread(unwrap)
