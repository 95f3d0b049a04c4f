"""C2SP signed notes (c2sp.org/signed-note) with Ed25519, and tlog checkpoints.

A signed note is text ending in a newline, a blank line, then signature lines::

    — <key name> base64(uint32_be(key id) || Ed25519 signature over the text)

with ``key id = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]``. A verifier key
is published as ``<name>+<key id as 8 hex digits>+base64(0x01 || public key)``, the encoding of
golang.org/x/mod/sumdb/note. A checkpoint (c2sp.org/tlog-checkpoint) is a note whose text is
``origin``, tree size and base64 root hash, one per line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from crypto.errors import FormatError, SignatureError

__all__ = [
    "Checkpoint",
    "NoteSigner",
    "NoteVerifier",
    "open_note",
    "parse_verifier_key",
    "sign_note",
    "verifier_key_string",
]

_ED25519_TYPE: Final = b"\x01"
_SIGNATURE_PREFIX: Final = "\u2014 "  # em dash, space
_MAX_SIGNATURES: Final = 100  # as golang.org/x/mod/sumdb/note; the spec requires at least 16
_CONTROL: Final = re.compile(r"[\x00-\x09\x0b-\x1f]")
_KEY_ID_HEX: Final = re.compile(r"[0-9a-fA-F]{8}")
_TREE_SIZE: Final = re.compile(r"0|[1-9][0-9]*")
_HASH_SIZE: Final = 32


class NoteSigner(Protocol):
    """What sign_note needs from a signer (ServiceSigner provides it)."""

    @property
    def public_key(self) -> Ed25519PublicKey: ...

    def sign(self, message: bytes) -> bytes: ...


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        raise FormatError(f"invalid note key name {name!r}")


def _key_id(name: str, public_key: Ed25519PublicKey) -> int:
    digest = hashlib.sha256(name.encode() + b"\n" + _ED25519_TYPE + _raw(public_key)).digest()
    return int.from_bytes(digest[:4], "big")


def _b64decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FormatError(f"{what} is not base64") from None
    if base64.b64encode(raw).decode() != text:
        raise FormatError(f"{what} is not canonical base64")
    return raw


class NoteVerifier:
    """An Ed25519 public key under a note key name; identifies signatures by (name, key id)."""

    __slots__ = ("key_id", "name", "public_key")

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        _check_name(name)
        self.name = name
        self.public_key = public_key
        self.key_id = _key_id(name, public_key)

    def __repr__(self) -> str:
        return f"NoteVerifier({self.key_string()!r})"

    def key_string(self) -> str:
        """The published verifier key: ``name+<8 hex key id>+base64(0x01 || public key)``."""
        encoded = base64.b64encode(_ED25519_TYPE + _raw(self.public_key)).decode()
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def verifier_key_string(name: str, public_key: Ed25519PublicKey) -> str:
    """``name+<8 hex key id>+base64(0x01 || public key)``, as C2SP and sumdb/note publish keys."""
    return NoteVerifier(name, public_key).key_string()


def parse_verifier_key(text: str) -> NoteVerifier:
    """Fails closed: FormatError unless the key is well formed and its key id matches."""
    name, _, rest = text.strip().partition("+")
    key_id_hex, _, encoded = rest.partition("+")
    if not _KEY_ID_HEX.fullmatch(key_id_hex):
        raise FormatError("verifier key id must be 8 hex digits")
    raw = _b64decode(encoded, "verifier key")
    if len(raw) != 33 or raw[:1] != _ED25519_TYPE:
        raise FormatError("verifier key is not an Ed25519 (type 0x01) key")
    verifier = NoteVerifier(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
    if verifier.key_id != int(key_id_hex, 16):
        raise FormatError("verifier key id does not match the key")
    return verifier


def _check_text(text: str) -> bytes:
    if _CONTROL.search(text):
        raise FormatError("note contains control characters")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise FormatError("note is not valid UTF-8") from None


def sign_note(text: str, name: str, signer: NoteSigner) -> str:
    """Signs ``text`` (which must end in a newline) as a C2SP note under key name ``name``."""
    if not text.endswith("\n"):
        raise FormatError("note text must end with a newline")
    message = _check_text(text)
    _check_name(name)
    key_id = _key_id(name, signer.public_key).to_bytes(4, "big")
    signature = base64.b64encode(key_id + signer.sign(message)).decode()
    return f"{text}\n{_SIGNATURE_PREFIX}{name} {signature}\n"


def _split_note(note: str | bytes) -> tuple[str, list[str]]:
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("note is not valid UTF-8") from None
    _check_text(note)
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n") or split + 2 == len(note):
        raise FormatError("note lacks a signature block after a blank line")
    lines = note[split + 2 : -1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise FormatError("note has too many signatures")
    return note[: split + 1], lines


def _parse_signature(line: str) -> tuple[str, int, bytes]:
    if not line.startswith(_SIGNATURE_PREFIX):
        raise FormatError("note signature line must start with an em dash and a space")
    name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
    _check_name(name)
    raw = _b64decode(encoded, "note signature")
    if len(raw) < 5:
        raise FormatError("note signature too short")
    return name, int.from_bytes(raw[:4], "big"), raw[4:]


def open_note(note: str | bytes, verifier: NoteVerifier | Sequence[NoteVerifier]) -> str:
    """Fails closed: returns the note text only if ``verifier``'s key (or one of them) signed it.

    Several verifiers are the keys of one signer across rotations: a note signed by any of
    them opens. Signatures by other keys (other name or key id) are ignored, as the spec
    requires; a signature by a known key that does not verify rejects the whole note.
    """
    verifiers = [verifier] if isinstance(verifier, NoteVerifier) else list(verifier)
    known = {(known.name, known.key_id): known for known in verifiers}
    text, lines = _split_note(note)
    signatures = [_parse_signature(line) for line in lines]
    message = text.encode("utf-8")
    for name, key_id, signature in signatures:
        signer = known.get((name, key_id))
        if signer is not None:
            if not signer.verify(message, signature):
                raise SignatureError(f"invalid signature by {name}+{key_id:08x}")
            return text
    named = ", ".join(f"{known.name}+{known.key_id:08x}" for known in verifiers) or "no key"
    raise SignatureError(f"note has no signature by {named}")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A transparency log checkpoint body (c2sp.org/tlog-checkpoint): origin, size, root."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        lines = (self.origin, *self.extensions)
        if any(not line or "\n" in line or _CONTROL.search(line) for line in lines):
            raise FormatError("checkpoint origin and extension lines must be non-empty lines")
        if not 0 <= self.size < 2**64:
            raise FormatError("checkpoint tree size out of range")
        if len(self.root_hash) != _HASH_SIZE:
            raise FormatError("checkpoint root hash must be 32 bytes")

    def to_text(self) -> str:
        root = base64.b64encode(self.root_hash).decode()
        return "\n".join((self.origin, str(self.size), root, *self.extensions)) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Inverse of to_text; FormatError for anything else."""
        if not text.endswith("\n"):
            raise FormatError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise FormatError("checkpoint needs origin, tree size and root hash lines")
        origin, size, root, *extensions = lines
        if not _TREE_SIZE.fullmatch(size):
            raise FormatError("checkpoint tree size must be a decimal without leading zeros")
        return cls(origin, int(size), _b64decode(root, "checkpoint root hash"), tuple(extensions))
