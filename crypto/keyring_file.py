"""The keyring file: its JSON document, read into the keys a ``Keyring`` holds and written back.

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
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto import signing_keys
from crypto.envelope import KEK_ID_PATTERN
from crypto.errors import KeyringError
from crypto.key_manager import KekState
from crypto.private_file import read_private_file
from crypto.signing_keys import KINDS, SigningKey, SigningKeyKind, decode_key, encode_key

__all__ = [
    "KEY_SIZE",
    "KekEntry",
    "KeyringContents",
    "Stamp",
    "new_kek_id",
    "read_contents",
    "stamp_of",
]

_STATES: Final[frozenset[str]] = frozenset({"staged", "active", "decrypt-only", "retired"})
_FORMAT: Final = "partner-escrow-keyring/v2"
_FORMAT_V1: Final = "partner-escrow-keyring/v1"  # one seed per signing key; still loads
KEY_SIZE: Final = 32


@dataclass(slots=True)
class KekEntry:
    """A KEK as the file holds it; a retired one has no material."""

    kek_id: str
    state: KekState
    material: bytes | None


@dataclass(slots=True)
class KeyringContents:
    """Every key of one keyring file, checked as a whole when read."""

    keks: list[KekEntry]
    signing: dict[SigningKeyKind, list[SigningKey]]
    audit_hmac_key: bytes

    @classmethod
    def generate(cls) -> KeyringContents:
        return cls(
            keks=[KekEntry(new_kek_id(set()), "active", os.urandom(KEY_SIZE))],
            signing={kind: [SigningKey.generate("active", None)] for kind in KINDS},
            audit_hmac_key=os.urandom(KEY_SIZE),
        )

    def signer_key(self, kind: SigningKeyKind) -> Ed25519PrivateKey:
        return signing_keys.active(self.signing[kind]).private_key()

    def find(self, kek_id: str) -> KekEntry | None:
        return next((kek for kek in self.keks if kek.kek_id == kek_id), None)

    def active(self) -> KekEntry:
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
    def from_json(cls, raw: bytes) -> KeyringContents:
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


def _kek_to_json(kek: KekEntry) -> dict[str, str]:
    entry = {"id": kek.kek_id, "state": kek.state}
    if kek.material is not None:
        entry["key"] = encode_key(kek.material)
    return entry


def _kek_from_json(entry: Any) -> KekEntry:
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
    return KekEntry(kek_id, state, material)


def new_kek_id(taken: set[str]) -> str:
    while True:
        kek_id = f"kek-{os.urandom(4).hex()}"
        if kek_id not in taken:
            return kek_id


Stamp = tuple[int, int, int, int]


def stamp_of(path: Path) -> Stamp | None:
    """What changes whenever the file is replaced (an atomic write is a new inode)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def read_contents(path: Path) -> KeyringContents:
    raw = read_private_file(path)
    try:
        return KeyringContents.from_json(raw)
    except ValueError as error:  # json.JSONDecodeError is a ValueError too
        raise KeyringError(f"{path} is not a valid keyring: {error}") from None
