"""Cryptography for Partner Escrow, composed from the ``cryptography`` package's primitives.

- ``KeyManager``: the interface to KEKs (wrap per-version DEKs), the receipt/checkpoint
  signing keys, the token keys (both rotated: ``SigningKeyInfo``) and the audit MAC key.
  ``Keyring`` keeps them all in one 0600 file; ``Pkcs11KeyManager`` keeps the KEKs in a
  PKCS#11 token (an HSM) they never leave.
- ``StreamingAead``: Tink AES-GCM-HKDF-Streaming segmented encryption with random access.
- ``sign_document`` / ``verify_document`` (``_among`` rotated keys), ``canonical_json``
  (RFC 8785): signed receipts.
- ``sign_note`` / ``open_note``, ``Checkpoint``: C2SP signed notes and tlog checkpoints.
- ``merkle`` functions: RFC 6962/9162 hashes, proofs and verification.

Pure: no I/O except the keyring and PIN files and the PKCS#11 token it is handed; imports
nothing from escrow/ or storage/.
"""

from __future__ import annotations

from crypto.envelope import WrappedDataKey
from crypto.errors import (
    CryptoError,
    FormatError,
    IntegrityError,
    KeyringError,
    ProofError,
    RetiredKeyError,
    SignatureError,
    UnknownKeyError,
)
from crypto.key_manager import KekInfo, KekState, KeyManager
from crypto.keyring import Keyring
from crypto.merkle import (
    EMPTY_ROOT,
    CompactRange,
    NodeId,
    SubtreeRoot,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    perfect_subtrees,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from crypto.note import (
    Checkpoint,
    NoteVerifier,
    open_note,
    parse_verifier_key,
    sign_note,
    verifier_key_string,
)
from crypto.pkcs11_keys import Pkcs11KeyManager
from crypto.signing import (
    ServiceSigner,
    TokenSigningKey,
    canonical_json,
    jwk_thumbprint,
    load_public_key,
    sign_document,
    verify_document,
    verify_document_among,
)
from crypto.signing_keys import SigningKeyInfo, SigningKeyKind, SigningKeyState
from crypto.stream import DataKey, StreamDecryptor, StreamEncryptor, StreamingAead
from crypto.stream_layout import DEFAULT_SEGMENT_SIZE, SegmentRange, StreamLayout

__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "EMPTY_ROOT",
    "Checkpoint",
    "CompactRange",
    "CryptoError",
    "DataKey",
    "FormatError",
    "IntegrityError",
    "KekInfo",
    "KekState",
    "KeyManager",
    "Keyring",
    "KeyringError",
    "NodeId",
    "NoteVerifier",
    "Pkcs11KeyManager",
    "ProofError",
    "RetiredKeyError",
    "SegmentRange",
    "ServiceSigner",
    "SignatureError",
    "SigningKeyInfo",
    "SigningKeyKind",
    "SigningKeyState",
    "StreamDecryptor",
    "StreamEncryptor",
    "StreamLayout",
    "StreamingAead",
    "SubtreeRoot",
    "TokenSigningKey",
    "UnknownKeyError",
    "WrappedDataKey",
    "canonical_json",
    "consistency_proof",
    "inclusion_proof",
    "jwk_thumbprint",
    "leaf_hash",
    "load_public_key",
    "node_hash",
    "open_note",
    "parse_verifier_key",
    "perfect_subtrees",
    "root_of",
    "sign_document",
    "sign_note",
    "verifier_key_string",
    "verify_consistency",
    "verify_document",
    "verify_document_among",
    "verify_inclusion",
]
