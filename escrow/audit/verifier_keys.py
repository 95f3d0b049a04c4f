"""The published keys that verify receipts and checkpoints, and reading them offline.

``GET /v1/audit/public-keys`` serves every receipt/checkpoint signing key the service ever
had, oldest first, so that what was signed before a rotation still verifies after it::

    {"format": "partner-escrow/audit-public-keys/v1", "origin": "<log origin>",
     "keys": [{"key_id": "<RFC 7638 thumbprint: receipts' key_id>",
               "state": "staged" | "active" | "verify-only" | "retired",
               "algorithm": "Ed25519",
               "verifier_key": "<origin>+<8 hex key hash>+<base64>",  (checkpoints' key)
               "public_key_pem": "-----BEGIN PUBLIC KEY-----...",
               "valid_from": <ISO 8601> | null, "valid_until": <ISO 8601> | null}, ...]}

``valid_from`` / ``valid_until`` are when the key started and stopped signing (null: from
the start; still signing or never signed). Verifiers read this document, a single C2SP
verifier key or a PEM with ``read_verifier_keys``. Pure: crypto only (the CLI runs it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from crypto import (
    CryptoError,
    FormatError,
    NoteVerifier,
    jwk_thumbprint,
    load_public_key,
    parse_verifier_key,
)

PUBLIC_KEYS_FORMAT: Final = "partner-escrow/audit-public-keys/v1"


@dataclass(frozen=True)
class VerifierKeys:
    """Keys to check signatures with: receipts by ``key_id``, notes by name and key hash."""

    public_keys: list[Ed25519PublicKey] = field(default_factory=list)
    note_verifiers: list[NoteVerifier] = field(default_factory=list)  # empty for a bare PEM


def read_verifier_keys(text: str) -> VerifierKeys:
    """Fails closed: FormatError unless ``text`` is a public-keys document, a C2SP verifier
    key or a PEM Ed25519 key, with every key in a document consistent with its id."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return _from_document(stripped)
    if stripped.startswith("-----BEGIN"):
        return VerifierKeys([load_public_key(stripped)])
    verifier = parse_verifier_key(stripped)
    return VerifierKeys([verifier.public_key], [verifier])


def _from_document(text: str) -> VerifierKeys:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise FormatError("the public-keys document is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != PUBLIC_KEYS_FORMAT:
        raise FormatError(f"a public-keys document has format {PUBLIC_KEYS_FORMAT!r}")
    entries = document.get("keys")
    if not isinstance(entries, list) or not entries:
        raise FormatError("the public-keys document lists no keys")
    keys = VerifierKeys()
    for entry in entries:
        verifier = _entry_verifier(entry, document.get("origin"))
        keys.public_keys.append(verifier.public_key)
        keys.note_verifiers.append(verifier)
    return keys


def _entry_verifier(entry: Any, origin: object) -> NoteVerifier:
    if not isinstance(entry, dict) or not isinstance(entry.get("verifier_key"), str):
        raise FormatError("each published key needs a verifier_key")
    try:
        verifier = parse_verifier_key(entry["verifier_key"])
    except CryptoError as exc:
        raise FormatError(f"a published verifier_key is malformed ({exc})") from None
    if verifier.name != origin:
        raise FormatError(f"key {entry.get('key_id')!r} is not named after the log's origin")
    if entry.get("key_id") != jwk_thumbprint(verifier.public_key):
        raise FormatError(f"key {entry.get('key_id')!r}: key_id is not its key's thumbprint")
    pem = entry.get("public_key_pem")
    if pem is not None and (
        not isinstance(pem, str) or load_public_key(pem) != verifier.public_key
    ):
        raise FormatError(f"key {entry['key_id']!r}: public_key_pem is another key")
    return verifier
