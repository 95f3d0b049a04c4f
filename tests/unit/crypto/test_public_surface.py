from __future__ import annotations

import importlib
import inspect
import pkgutil

import crypto

EXPECTED = {
    # errors
    "CryptoError", "FormatError", "IntegrityError", "KeyringError", "ProofError",
    "RetiredKeyError", "SignatureError", "UnknownKeyError",
    # key managers (keyring file, PKCS#11 token), signing keys and the envelope
    "KekInfo", "KekState", "KeyManager", "Keyring", "Pkcs11KeyManager", "WrappedDataKey",
    "SigningKeyInfo", "SigningKeyKind", "SigningKeyState",
    # streaming AEAD
    "DEFAULT_SEGMENT_SIZE", "DataKey", "SegmentRange", "StreamDecryptor", "StreamEncryptor",
    "StreamLayout", "StreamingAead",
    # signing, canonical JSON, signed notes, checkpoints
    "Checkpoint", "NoteVerifier", "ServiceSigner", "TokenSigningKey", "canonical_json",
    "jwk_thumbprint", "load_public_key", "open_note", "parse_verifier_key", "sign_document",
    "sign_note", "verifier_key_string", "verify_document", "verify_document_among",
    # Merkle trees
    "EMPTY_ROOT", "CompactRange", "NodeId", "SubtreeRoot", "consistency_proof",
    "inclusion_proof", "leaf_hash", "node_hash", "perfect_subtrees", "root_of",
    "verify_consistency", "verify_inclusion",
}  # fmt: skip


def test_public_surface_is_exactly_all() -> None:
    assert set(crypto.__all__) == EXPECTED
    assert len(crypto.__all__) == len(EXPECTED)


def test_every_public_name_resolves() -> None:
    for name in crypto.__all__:
        assert getattr(crypto, name) is not None, name


def test_errors_share_one_base() -> None:
    errors = [getattr(crypto, name) for name in EXPECTED if name.endswith("Error")]
    assert all(issubclass(error, crypto.CryptoError) for error in errors)
    assert issubclass(crypto.UnknownKeyError, crypto.KeyringError)
    assert issubclass(crypto.RetiredKeyError, crypto.KeyringError)


def test_crypto_imports_nothing_from_the_service_or_storage() -> None:
    for module_info in pkgutil.iter_modules(crypto.__path__, "crypto."):
        source = inspect.getsource(importlib.import_module(module_info.name))
        for forbidden in ("import escrow", "from escrow", "import storage", "from storage"):
            assert forbidden not in source, (module_info.name, forbidden)
