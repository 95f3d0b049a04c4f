"""The lifecycle of the service's Ed25519 signing keys, as the keyring file stores them.

Two kinds, each a list in the keyring file, oldest first: ``receipt`` keys sign receipts and
audit checkpoints, ``token`` keys sign access tokens. One entry::

    {"id": "<RFC 7638 thumbprint>", "state": "active", "public_key": "<base64, 32 bytes>",
     "key": "<base64 Ed25519 seed; absent once retired>", "created_at": <time> | null,
     "activated_at": <time> | null, "deactivated_at": <time> | null,
     "retired_at": <time> | null}

with times as ISO 8601 UTC strings (null: before the keyring recorded times, or not yet).

States, as for KEKs: ``staged`` (published, signs nothing: every replica and verifier
learns it before it signs) -> ``active`` (signs; exactly one per kind; only a staged key is
promoted) -> ``verify-only`` (superseded: still published, signs nothing) -> ``retired``
(the seed is erased). A retired token key verifies no more tokens (JWKS drops it). A retired
receipt key keeps verifying what it signed while it was active, from ``activated_at`` to
``deactivated_at`` (its validity): receipts and checkpoints must verify offline for ever, so
a receipt key's public half is never removed.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from crypto.errors import KeyringError, RetiredKeyError, UnknownKeyError
from crypto.signing import jwk_thumbprint

__all__ = ["SigningKeyInfo", "SigningKeyKind", "SigningKeyState"]

SigningKeyKind = Literal["receipt", "token"]
SigningKeyState = Literal["staged", "active", "verify-only", "retired"]
KINDS: Final[tuple[SigningKeyKind, ...]] = ("receipt", "token")
_STATES: Final[frozenset[str]] = frozenset({"staged", "active", "verify-only", "retired"})
_TIMES: Final = ("created_at", "activated_at", "deactivated_at", "retired_at")
_FIELDS: Final = frozenset({"id", "state", "public_key", "key", *_TIMES})
_SEED_SIZE: Final = 32


@dataclass(frozen=True, slots=True)
class SigningKeyInfo:
    """A signing key's public half, state and validity (never its seed)."""

    kind: SigningKeyKind
    key_id: str  # the RFC 7638 thumbprint that receipts (key_id) and tokens (kid) carry
    state: SigningKeyState
    public_key: Ed25519PublicKey
    created_at: datetime | None
    activated_at: datetime | None  # valid from (None: from the start)
    deactivated_at: datetime | None  # valid until (None: still signing, or never signed)
    retired_at: datetime | None

    @property
    def verifies(self) -> bool:
        """Whether its signatures are accepted: receipt keys always, token keys until retired."""
        return self.kind == "receipt" or self.state != "retired"

    @property
    def public_key_bytes(self) -> bytes:
        return self.public_key.public_bytes_raw()

    def public_key_pem(self) -> str:
        pem = self.public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        return pem.decode("ascii")


@dataclass(slots=True)
class SigningKey:
    """One entry of the keyring file (crypto-internal: the Keyring hands out only info)."""

    key_id: str
    state: SigningKeyState
    public: bytes
    seed: bytes | None
    created_at: datetime | None = None
    activated_at: datetime | None = None
    deactivated_at: datetime | None = None
    retired_at: datetime | None = None

    @classmethod
    def generate(cls, state: SigningKeyState, at: datetime | None) -> SigningKey:
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        key = cls.from_seed(seed, state)
        key.created_at = at
        key.activated_at = at if state == "active" else None
        return key

    @classmethod
    def from_seed(cls, seed: bytes, state: SigningKeyState) -> SigningKey:
        public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
        return cls(jwk_thumbprint(public), state, public.public_bytes_raw(), seed)

    def private_key(self) -> Ed25519PrivateKey:
        if self.seed is None:  # from_json and retire() never let an active key lose it
            raise KeyringError(f"signing key {self.key_id} has no private key")
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    def info(self, kind: SigningKeyKind) -> SigningKeyInfo:
        return SigningKeyInfo(
            kind,
            self.key_id,
            self.state,
            Ed25519PublicKey.from_public_bytes(self.public),
            self.created_at,
            self.activated_at,
            self.deactivated_at,
            self.retired_at,
        )

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": self.key_id,
            "state": self.state,
            "public_key": encode_key(self.public),
        }
        if self.seed is not None:
            entry["key"] = encode_key(self.seed)
        for name in _TIMES:
            moment: datetime | None = getattr(self, name)
            entry[name] = None if moment is None else _iso(moment)
        return entry

    @classmethod
    def from_json(cls, entry: Any, where: str) -> SigningKey:
        """Raises ValueError naming the first structural problem."""
        if not isinstance(entry, dict) or not {"id", "state", "public_key"} <= set(entry):
            raise ValueError(f"each of {where} must be an object with id, state and public_key")
        if not set(entry) <= _FIELDS:
            raise ValueError(f"{where}: unknown fields {sorted(set(entry) - _FIELDS)}")
        key_id, state = entry["id"], entry["state"]
        if state not in _STATES:
            raise ValueError(f"{where} {key_id!r}: state must be one of {sorted(_STATES)}")
        if (state == "retired") == ("key" in entry):
            raise ValueError(f"{where} {key_id!r}: a retired key has no seed, every other has")
        public = decode_key(entry["public_key"], f"{where} {key_id!r} public_key")
        try:
            public_key = Ed25519PublicKey.from_public_bytes(public)
        except ValueError:
            raise ValueError(f"{where} {key_id!r}: public_key is not an Ed25519 key") from None
        if key_id != jwk_thumbprint(public_key):
            raise ValueError(f"{where} {key_id!r}: id is not the public key's thumbprint")
        seed = decode_key(entry["key"], f"{where} {key_id!r} key") if "key" in entry else None
        if seed is not None and cls.from_seed(seed, state).public != public:
            raise ValueError(f"{where} {key_id!r}: the seed does not match the public key")
        times = {
            name: _parse_time(entry.get(name), f"{where} {key_id!r} {name}") for name in _TIMES
        }
        return cls(key_id, state, public, seed, **times)


def check_keys(keys: list[SigningKey], where: str) -> None:
    """Raises ValueError unless ids are unique and exactly one key is active."""
    if len({key.key_id for key in keys}) != len(keys):
        raise ValueError(f"{where}: key ids must be unique")
    if sum(key.state == "active" for key in keys) != 1:
        raise ValueError(f"{where}: exactly one key must be active")


def active(keys: list[SigningKey]) -> SigningKey:
    return next(key for key in keys if key.state == "active")


def find(keys: list[SigningKey], kind: SigningKeyKind, key_id: str) -> SigningKey:
    found = next((key for key in keys if key.key_id == key_id), None)
    if found is None:
        raise UnknownKeyError(f"no {kind} signing key {key_id!r}")
    return found


def stage(keys: list[SigningKey], at: datetime) -> str:
    """Appends a new staged key (published, signing nothing yet); returns its id."""
    key = SigningKey.generate("staged", at)
    keys.append(key)
    return key.key_id


def promote(keys: list[SigningKey], kind: SigningKeyKind, key_id: str, at: datetime) -> None:
    """The staged key signs from ``at``; the active one becomes verify-only (valid until ``at``).

    Only a staged key is promoted, so every key's validity is one interval; to go back, stage
    and promote a new key.
    """
    key = find(keys, kind, key_id)
    if key.state == "active":
        return
    if key.state == "retired":
        raise RetiredKeyError(f"{kind} signing key {key_id} is retired and cannot sign")
    if key.state != "staged":
        raise KeyringError(f"{kind} signing key {key_id} is {key.state}: only a staged key signs")
    previous = active(keys)
    previous.state, previous.deactivated_at = "verify-only", at
    key.state, key.activated_at = "active", at


def retire(keys: list[SigningKey], kind: SigningKeyKind, key_id: str, at: datetime) -> None:
    """Erases a non-active key's seed for good; its public half and validity stay."""
    key = find(keys, kind, key_id)
    if key.state == "active":
        raise KeyringError(f"{key_id} is the active {kind} signing key; promote another first")
    if key.state == "retired":
        return
    if key.state == "staged":  # it never signed: its validity is empty
        key.activated_at = key.deactivated_at = None
    key.state, key.seed, key.retired_at = "retired", None, at


def encode_key(data: bytes) -> str:
    """A 32-byte key as the keyring file writes it (every key there is 32 bytes: KEKs, the
    MAC key, Ed25519 seeds and public keys)."""
    return base64.b64encode(data).decode("ascii")


def decode_key(value: object, field: str) -> bytes:
    """Fails closed: ValueError naming ``field`` unless ``value`` is base64 of 32 bytes."""
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError(f"{field} is not valid base64") from None
    if len(raw) != _SEED_SIZE:
        raise ValueError(f"{field} must decode to {_SEED_SIZE} bytes")
    return raw


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise KeyringError("signing key times must carry a time zone")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: object, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field} must be an ISO 8601 time or null")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{field} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{field} must carry a time zone")
    return moment
