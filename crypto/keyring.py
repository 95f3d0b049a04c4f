"""The keyring: key encryption keys (KEKs) and the service's signing and MAC keys.

One JSON file, mode 0600, replaced atomically on every change::

    {"format": "partner-escrow-keyring/v1",
     "keks": [{"id": "kek-1a2b3c4d", "state": "active", "key": "<base64, 32 bytes>"},
              {"id": "kek-5e6f7a8b", "state": "decrypt-only", "key": "..."},
              {"id": "kek-9c0d1e2f", "state": "retired"}],
     "receipt_signing_key": "<base64 Ed25519 seed>",
     "token_signing_key": "<base64 Ed25519 seed>",
     "audit_hmac_key": "<base64, 32 bytes>"}

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

import base64
import binascii
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto.envelope import KEK_ID_PATTERN, WrappedDataKey, unwrap_data_key, wrap_data_key
from crypto.errors import KeyringError, RetiredKeyError, UnknownKeyError
from crypto.private_file import read_private_file, write_private_file
from crypto.signing import ServiceSigner, TokenSigningKey
from crypto.stream import DEFAULT_SEGMENT_SIZE, DataKey, StreamingAead

__all__ = ["KekInfo", "KekState", "Keyring"]

KekState = Literal["staged", "active", "decrypt-only", "retired"]
_STATES: Final[frozenset[str]] = frozenset({"staged", "active", "decrypt-only", "retired"})
_FORMAT: Final = "partner-escrow-keyring/v1"
_KEY_SIZE: Final = 32
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class KekInfo:
    """A key encryption key's id and lifecycle state (never its material)."""

    kek_id: str
    state: KekState


@dataclass(slots=True)
class _Kek:
    kek_id: str
    state: KekState
    material: bytes | None


@dataclass(slots=True)
class _State:
    keks: list[_Kek]
    receipt_seed: bytes
    token_seed: bytes
    audit_hmac_key: bytes

    @classmethod
    def generate(cls) -> _State:
        return cls(
            keks=[_Kek(_new_kek_id(set()), "active", os.urandom(_KEY_SIZE))],
            receipt_seed=Ed25519PrivateKey.generate().private_bytes_raw(),
            token_seed=Ed25519PrivateKey.generate().private_bytes_raw(),
            audit_hmac_key=os.urandom(_KEY_SIZE),
        )

    def find(self, kek_id: str) -> _Kek | None:
        return next((kek for kek in self.keks if kek.kek_id == kek_id), None)

    def active(self) -> _Kek:
        return next(kek for kek in self.keks if kek.state == "active")

    def active_key(self) -> tuple[str, bytes]:
        active = self.active()
        if active.material is None:  # from_json and retire() never let this happen
            raise KeyringError(f"active KEK {active.kek_id} has no key material")
        return active.kek_id, active.material

    def to_json(self) -> bytes:
        document = {
            "format": _FORMAT,
            "keks": [_kek_to_json(kek) for kek in self.keks],
            "receipt_signing_key": _b64(self.receipt_seed),
            "token_signing_key": _b64(self.token_seed),
            "audit_hmac_key": _b64(self.audit_hmac_key),
        }
        return json.dumps(document, indent=2).encode("utf-8") + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> _State:
        """Raises ValueError naming the first structural problem."""
        document = json.loads(raw)
        fields = {"format", "keks", "receipt_signing_key", "token_signing_key", "audit_hmac_key"}
        if not isinstance(document, dict) or set(document) != fields:
            raise ValueError(f"top level must be an object with exactly {sorted(fields)}")
        if document["format"] != _FORMAT:
            raise ValueError(f"format must be {_FORMAT!r}")
        if not isinstance(document["keks"], list):
            raise ValueError("keks must be a list")
        state = cls(
            keks=[_kek_from_json(entry) for entry in document["keks"]],
            receipt_seed=_unb64(document["receipt_signing_key"], "receipt_signing_key"),
            token_seed=_unb64(document["token_signing_key"], "token_signing_key"),
            audit_hmac_key=_unb64(document["audit_hmac_key"], "audit_hmac_key"),
        )
        if len({kek.kek_id for kek in state.keks}) != len(state.keks):
            raise ValueError("KEK ids must be unique")
        if sum(kek.state == "active" for kek in state.keks) != 1:
            raise ValueError("exactly one KEK must be active")
        return state


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError(f"{field} is not valid base64") from None
    if len(raw) != _KEY_SIZE:
        raise ValueError(f"{field} must decode to {_KEY_SIZE} bytes")
    return raw


def _kek_to_json(kek: _Kek) -> dict[str, str]:
    entry = {"id": kek.kek_id, "state": kek.state}
    if kek.material is not None:
        entry["key"] = _b64(kek.material)
    return entry


def _kek_from_json(entry: Any) -> _Kek:
    if not isinstance(entry, dict) or not {"id", "state"} <= set(entry) <= {"id", "state", "key"}:
        raise ValueError("each KEK must be an object with id, state and (unless retired) key")
    kek_id, state = entry["id"], entry["state"]
    if not isinstance(kek_id, str) or not KEK_ID_PATTERN.fullmatch(kek_id):
        raise ValueError(f"malformed KEK id {kek_id!r}")
    if state not in _STATES:
        raise ValueError(f"{kek_id}: state must be one of {sorted(_STATES)}")
    if (state == "retired") == ("key" in entry):
        raise ValueError(f"{kek_id}: a retired KEK has no key and every other KEK has one")
    material = _unb64(entry["key"], f"{kek_id} key") if "key" in entry else None
    return _Kek(kek_id, state, material)


def _new_kek_id(taken: set[str]) -> str:
    while True:
        kek_id = f"kek-{os.urandom(4).hex()}"
        if kek_id not in taken:
            return kek_id


class Keyring:
    """KEKs plus the receipt-signing, token-signing and audit MAC keys, backed by one file.

    Build it with ``create``, ``load`` or ``load_or_create``.
    """

    __slots__ = ("_lock", "_path", "_service_signer", "_state", "_token_key")

    def __init__(self, path: Path, state: _State) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._install(state)

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> Keyring:
        """Generates every key afresh into a new 0600 file; KeyringError if the file exists."""
        target, state = Path(path), _State.generate()
        try:
            write_private_file(target, state.to_json(), replace=False)
        except FileExistsError:
            raise KeyringError(f"{target} already exists; refusing to overwrite keys") from None
        return cls(target, state)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Keyring:
        """Fails closed: refuses a file others may access, or one that is not a valid keyring."""
        target = Path(path)
        return cls(target, _read_state(target))

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
            self._install(_read_state(self._path))

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

        def change(state: _State) -> str:
            state.active().state = "decrypt-only"
            kek_id = _new_kek_id({kek.kek_id for kek in state.keks})
            state.keks.append(_Kek(kek_id, "active", os.urandom(_KEY_SIZE)))
            return kek_id

        return self._mutate(change)

    def stage(self) -> str:
        """Adds a new KEK that unwraps but does not wrap yet, persisted; returns its id."""

        def change(state: _State) -> str:
            kek_id = _new_kek_id({kek.kek_id for kek in state.keks})
            state.keks.append(_Kek(kek_id, "staged", os.urandom(_KEY_SIZE)))
            return kek_id

        return self._mutate(change)

    def promote(self, kek_id: str) -> None:
        """Makes a staged (or decrypt-only) KEK the active one; the old one becomes decrypt-only."""

        def change(state: _State) -> None:
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

        def change(state: _State) -> None:
            kek = state.find(kek_id)
            if kek is None:
                raise UnknownKeyError(f"no KEK {kek_id!r} in {self._path}")
            if kek.state == "active":
                raise KeyringError(f"{kek_id} is the active KEK; rotate before retiring it")
            kek.state, kek.material = "retired", None

        self._mutate(change)

    @property
    def service_signer(self) -> ServiceSigner:
        """The Ed25519 key that signs receipts and audit checkpoints."""
        return self._service_signer

    @property
    def token_signing_key(self) -> TokenSigningKey:
        """The separate Ed25519 key that signs access tokens."""
        return self._token_key

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

    def _mutate(self, change: Callable[[_State], _T]) -> _T:
        with self._lock:
            state = _read_state(self._path)
            result = change(state)
            write_private_file(self._path, state.to_json(), replace=True)
            self._install(state)
            return result

    def _install(self, state: _State) -> None:
        self._state = state
        self._service_signer = ServiceSigner(
            Ed25519PrivateKey.from_private_bytes(state.receipt_seed)
        )
        self._token_key = TokenSigningKey(Ed25519PrivateKey.from_private_bytes(state.token_seed))


def _read_state(path: Path) -> _State:
    raw = read_private_file(path)
    try:
        return _State.from_json(raw)
    except ValueError as error:  # json.JSONDecodeError is a ValueError too
        raise KeyringError(f"{path} is not a valid keyring: {error}") from None
