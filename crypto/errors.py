"""Errors raised by the crypto package.

Every failure is a ``CryptoError``; catch the narrowest class that you can act on::

    CryptoError
    ├── IntegrityError       ciphertext or wrapped key failed authentication: flipped bits,
    │                        truncation, reordered or spliced segments, trailing garbage,
    │                        wrong associated data
    ├── SignatureError       a signature, signed document or signed note did not verify
    ├── ProofError           a Merkle inclusion or consistency proof was rejected
    ├── FormatError          an encoding is malformed or outside the supported subset
    │                        (canonical JSON input, key strings, notes, checkpoints)
    └── KeyringError         the keyring file is unusable (permissions, structure, I/O)
        ├── UnknownKeyError  no key (KEK or signing key) has that id
        └── RetiredKeyError  the key was retired; its secret material is gone

Verification functions fail closed: they either return normally or raise one of these.
"""

from __future__ import annotations

__all__ = [
    "CryptoError",
    "FormatError",
    "IntegrityError",
    "KeyringError",
    "ProofError",
    "RetiredKeyError",
    "SignatureError",
    "UnknownKeyError",
]


class CryptoError(Exception):
    """Base class of every error raised by the crypto package."""


class IntegrityError(CryptoError):
    """Ciphertext or a wrapped key failed authentication; nothing from it may be used."""


class SignatureError(CryptoError):
    """A signature, signed document or signed note did not verify."""


class ProofError(CryptoError):
    """A Merkle inclusion or consistency proof was rejected."""


class FormatError(CryptoError):
    """An encoding is malformed or outside the subset this package accepts."""


class KeyringError(CryptoError):
    """The keyring file cannot be used: bad permissions, bad structure or failed I/O."""


class UnknownKeyError(KeyringError):
    """No key (key encryption key or signing key) with the requested id is in the keyring."""


class RetiredKeyError(KeyringError):
    """The key was retired: a KEK unwraps no data key, a signing key signs nothing."""
