"""The keyring: key encryption keys (KEKs) and the service's signing and MAC keys.

One JSON file, mode 0600, replaced atomically on every change::

    {"format": "partner-escrow-keyring/v2",
     "keks": [{"id": "kek-1a2b3c4d", "state": "active", "key": "<base64, 32 bytes>"},
              {"id": "kek-5e6f7a8b", "state": "decrypt-only", "key": "..."},
              {"id": "kek-9c0d1e2f", "state": "retired"}],
     "receipt_signing_keys": [<signing key>, ...],
     "token_signing_keys": [<signing key>, ...],
     "audit_hmac_key": "<base64, 32 bytes>"}

with signing keys as ``crypto.signing_keys`` describes them (stage, promote, retire, like
KEKs). A v1 file (one ``receipt_signing_key`` and one ``token_signing_key`` seed) loads as one
active key of each kind, and is written as v2 on its next change.

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

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto import signing_keys
from crypto.envelope import KEK_ID_PATTERN, WrappedDataKey, unwrap_data_key, wrap_data_key
from crypto.errors import KeyringError, RetiredKeyError, UnknownKeyError
from crypto.private_file import read_private_file, write_private_file
from crypto.signing import ServiceSigner, TokenSigningKey
from crypto.signing_keys import (
    KINDS,
    SigningKey,
    SigningKeyInfo,
    SigningKeyKind,
    decode_key,
    encode_key,
)
from crypto.stream import DEFAULT_SEGMENT_SIZE, DataKey, StreamingAead

__all__ = ["KekInfo", "KekState", "Keyring"]

KekState = Literal["staged", "active", "decrypt-only", "retired"]
_STATES: Final[frozenset[str]] = frozenset({"staged", "active", "decrypt-only", "retired"})
_FORMAT: Final = "partner-escrow-keyring/v2"
_FORMAT_V1: Final = "partner-escrow-keyring/v1"  # one seed per signing key; still loads
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
    signing: dict[SigningKeyKind, list[SigningKey]]
    audit_hmac_key: bytes

    @classmethod
    def generate(cls) -> _State:
        return cls(
            keks=[_Kek(_new_kek_id(set()), "active", os.urandom(_KEY_SIZE))],
            signing={kind: [SigningKey.generate("active", None)] for kind in KINDS},
            audit_hmac_key=os.urandom(_KEY_SIZE),
        )

    def signer_key(self, kind: SigningKeyKind) -> Ed25519PrivateKey:
        return signing_keys.active(self.signing[kind]).private_key()

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
            **{
                f"{kind}_signing_keys": [key.to_json() for key in self.signing[kind]]
                for kind in KINDS
            },
            "audit_hmac_key": encode_key(self.audit_hmac_key),
        }
        return json.dumps(document, indent=2).encode("utf-8") + b"\n"

    @classmethod
    def from_json(cls, raw: bytes) -> _State:
        """Raises ValueError naming the first structural problem; reads v1 and v2 files."""
        document = json.loads(raw)
        version = document.get("format") if isinstance(document, dict) else None
        if version not in (_FORMAT, _FORMAT_V1):
            raise ValueError(f"format must be {_FORMAT!r} (or {_FORMAT_V1!r})")
        per_kind = "_signing_keys" if version == _FORMAT else "_signing_key"
        fields = {"format", "keks", "audit_hmac_key", *(kind + per_kind for kind in KINDS)}
        if set(document) != fields:
            raise ValueError(f"top level must be an object with exactly {sorted(fields)}")
        if not isinstance(document["keks"], list):
            raise ValueError("keks must be a list")
        state = cls(
            keks=[_kek_from_json(entry) for entry in document["keks"]],
            signing={kind: _signing_from_json(document, kind, per_kind) for kind in KINDS},
            audit_hmac_key=decode_key(document["audit_hmac_key"], "audit_hmac_key"),
        )
        if len({kek.kek_id for kek in state.keks}) != len(state.keks):
            raise ValueError("KEK ids must be unique")
        if sum(kek.state == "active" for kek in state.keks) != 1:
            raise ValueError("exactly one KEK must be active")
        return state


def _signing_from_json(
    document: dict[str, Any], kind: SigningKeyKind, suffix: str
) -> list[SigningKey]:
    field = kind + suffix
    if suffix == "_signing_key":  # v1: one seed, which has signed since the start
        return [SigningKey.from_seed(decode_key(document[field], field), "active")]
    entries = document[field]
    if not isinstance(entries, list):
        raise ValueError(f"{field} must be a list")
    keys = [SigningKey.from_json(entry, field) for entry in entries]
    signing_keys.check_keys(keys, field)
    return keys


def _kek_to_json(kek: _Kek) -> dict[str, str]:
    entry = {"id": kek.kek_id, "state": kek.state}
    if kek.material is not None:
        entry["key"] = encode_key(kek.material)
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
    material = decode_key(entry["key"], f"{kek_id} key") if "key" in entry else None
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

    __slots__ = (
        "_lock",
        "_path",
        "_service_signer",
        "_signing_infos",
        "_stamp",
        "_state",
        "_token_key",
    )

    def __init__(self, path: Path, state: _State, stamp: _Stamp | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._install(state, stamp)

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> Keyring:
        """Generates every key afresh into a new 0600 file; KeyringError if the file exists."""
        target, state = Path(path), _State.generate()
        try:
            write_private_file(target, state.to_json(), replace=False)
        except FileExistsError:
            raise KeyringError(f"{target} already exists; refusing to overwrite keys") from None
        return cls(target, state, _stamp_of(target))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Keyring:
        """Fails closed: refuses a file others may access, or one that is not a valid keyring."""
        target = Path(path)
        stamp = _stamp_of(target)
        return cls(target, _read_state(target), stamp)

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
            stamp = _stamp_of(self._path)
            self._install(_read_state(self._path), stamp)

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

    def _mutate(self, change: Callable[[_State], _T]) -> _T:
        with self._lock:
            state = _read_state(self._path)
            result = change(state)
            write_private_file(self._path, state.to_json(), replace=True)
            self._install(state, _stamp_of(self._path))
            return result

    def _install(self, state: _State, stamp: _Stamp | None) -> None:
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
        stamp = _stamp_of(self._path)
        if stamp is None or stamp == self._stamp:
            return  # unchanged, or gone from disk: a removed file changes no key
        with self._lock:
            if _stamp_of(self._path) != self._stamp:
                self._install(_read_state(self._path), stamp)


_Stamp = tuple[int, int, int, int]


def _stamp_of(path: Path) -> _Stamp | None:
    """What changes whenever the file is replaced (an atomic write is a new inode)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _read_state(path: Path) -> _State:
    raw = read_private_file(path)
    try:
        return _State.from_json(raw)
    except ValueError as error:  # json.JSONDecodeError is a ValueError too
        raise KeyringError(f"{path} is not a valid keyring: {error}") from None
