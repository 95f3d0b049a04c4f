"""Ed25519 signing keys, canonical JSON (RFC 8785) and signed JSON documents (receipts).

``sign_document`` signs ``canonical_json`` of a document plus its signer's ``key_id`` (the
RFC 7638 JWK thumbprint of the public key) and adds the signature as standard base64::

    {...fields, "key_id": "<thumbprint>", "signature": base64(Ed25519(canonical_json(
        {...fields, "key_id": "<thumbprint>"})))}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from typing import Any, Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from crypto.errors import FormatError, SignatureError
from crypto.note import NoteVerifier, parse_verifier_key

__all__ = [
    "ServiceSigner",
    "TokenSigningKey",
    "canonical_json",
    "jwk_thumbprint",
    "load_public_key",
    "sign_document",
    "verify_document",
    "verify_document_among",
]

# I-JSON (RFC 7493): integers beyond 2**53 - 1 do not survive a round trip through a double.
_MAX_SAFE_INTEGER: Final = 2**53 - 1
_SIGNATURE_FIELD: Final = "signature"
_KEY_ID_FIELD: Final = "key_id"


def canonical_json(value: object) -> bytes:
    """RFC 8785 (JCS) bytes of ``value``: the same value always yields the same bytes.

    Supports dicts with str keys (sorted by UTF-16 code units), lists, str, int within
    +-(2**53 - 1), bool and None; anything else (floats included) raises FormatError.
    """
    parts: list[str] = []
    try:
        _encode(value, parts)
    except RecursionError:
        raise FormatError("value nests too deeply for canonical JSON") from None
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError:
        raise FormatError("canonical JSON strings must not contain lone surrogates") from None


def _encode(value: object, out: list[str]) -> None:
    if value is None or isinstance(value, bool):
        out.append({None: "null", True: "true", False: "false"}[value])
    elif isinstance(value, int):
        if abs(value) > _MAX_SAFE_INTEGER:
            raise FormatError(f"integer {value} is outside the I-JSON safe range")
        out.append(str(value))
    elif isinstance(value, str):
        # json.dumps escapes exactly as ECMAScript JSON.stringify does (RFC 8785 3.2.2.2).
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, list):
        out.append("[")
        for position, item in enumerate(value):
            out.append("," if position else "")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, dict):
        _encode_object(value, out)
    else:
        raise FormatError(f"{type(value).__name__} is not supported in canonical JSON")


def _encode_object(value: dict[Any, Any], out: list[str]) -> None:
    if not all(isinstance(key, str) for key in value):
        raise FormatError("canonical JSON object keys must be strings")
    out.append("{")
    ordered = sorted(value, key=lambda key: key.encode("utf-16-be", "surrogatepass"))
    for position, key in enumerate(ordered):
        out.append("," if position else "")
        out.append(json.dumps(key, ensure_ascii=False))
        out.append(":")
        _encode(value[key], out)
    out.append("}")


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of an Ed25519 public key."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw_public(public_key))}
    return _b64url(hashlib.sha256(canonical_json(members)).digest())


class ServiceSigner:
    """The service's Ed25519 key for receipts and checkpoints; the private half never leaves."""

    __slots__ = ("_key_id", "_private_key", "_public_key")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self._public_key = private_key.public_key()
        self._key_id = jwk_thumbprint(self._public_key)

    @classmethod
    def generate(cls) -> ServiceSigner:
        return cls(Ed25519PrivateKey.generate())

    def __repr__(self) -> str:
        return f"ServiceSigner(key_id={self._key_id!r})"

    @property
    def key_id(self) -> str:
        """RFC 7638 thumbprint of the public key; names the key in signed documents."""
        return self._key_id

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._public_key

    @property
    def public_key_bytes(self) -> bytes:
        return _raw_public(self._public_key)

    def public_key_pem(self) -> str:
        pem = self._public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        return pem.decode("ascii")

    def sign(self, message: bytes) -> bytes:
        return self._private_key.sign(message)

    def verifier(self, name: str) -> NoteVerifier:
        """The C2SP note verifier for this key under key name ``name`` (the log origin)."""
        return NoteVerifier(name, self._public_key)


class TokenSigningKey:
    """The separate Ed25519 key for access tokens (EdDSA JWTs), with its public JWK."""

    __slots__ = ("_kid", "_private_key")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self._kid = jwk_thumbprint(private_key.public_key())

    def __repr__(self) -> str:
        return f"TokenSigningKey(kid={self._kid!r})"

    @property
    def private_key(self) -> Ed25519PrivateKey:
        """For ``jwt.encode(..., key=private_key, algorithm="EdDSA", headers={"kid": kid})``."""
        return self._private_key

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._private_key.public_key()

    @property
    def kid(self) -> str:
        """RFC 7638 thumbprint of the public key."""
        return self._kid

    def public_jwk(self) -> dict[str, str]:
        """The RFC 8037 public JWK to publish in the JWKS document."""
        x = _b64url(_raw_public(self.public_key))
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": x,
            "kid": self._kid,
            "alg": "EdDSA",
            "use": "sig",
        }


def sign_document(document: dict[str, Any], signer: ServiceSigner) -> dict[str, Any]:
    """Returns a copy with ``key_id`` and ``signature`` over canonical_json of the rest."""
    if _SIGNATURE_FIELD in document or _KEY_ID_FIELD in document:
        raise FormatError("document already carries a signature or key_id")
    payload = {**document, _KEY_ID_FIELD: signer.key_id}
    signature = signer.sign(canonical_json(payload))
    return {**payload, _SIGNATURE_FIELD: base64.b64encode(signature).decode("ascii")}


def verify_document(document: object, public_key: Ed25519PublicKey) -> dict[str, Any]:
    """Fails closed: returns the signed fields only if ``public_key`` signed exactly them."""
    if not isinstance(document, dict):
        raise SignatureError("a signed document must be a JSON object")
    payload = {key: value for key, value in document.items() if key != _SIGNATURE_FIELD}
    encoded = document.get(_SIGNATURE_FIELD)
    if not isinstance(encoded, str):
        raise SignatureError("document carries no signature")
    if payload.get(_KEY_ID_FIELD) != jwk_thumbprint(public_key):
        raise SignatureError("document was not signed by this key")
    try:
        signature = base64.b64decode(encoded, validate=True)
        public_key.verify(signature, canonical_json(payload))
    except (binascii.Error, ValueError, FormatError, InvalidSignature):
        raise SignatureError("document signature does not verify") from None
    return payload


def verify_document_among(
    document: object, public_keys: Iterable[Ed25519PublicKey]
) -> dict[str, Any]:
    """Fails closed: as verify_document, with the key the document names by ``key_id``.

    For documents signed before and after a key rotation: give every published key.
    """
    if not isinstance(document, dict):
        raise SignatureError("a signed document must be a JSON object")
    named = document.get(_KEY_ID_FIELD)
    key = next((key for key in public_keys if jwk_thumbprint(key) == named), None)
    if key is None:
        raise SignatureError(f"document was signed by none of these keys (key_id {named!r})")
    return verify_document(document, key)


def load_public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from a C2SP verifier key string or a PEM SubjectPublicKeyInfo."""
    stripped = text.strip()
    if not stripped.startswith("-----BEGIN"):
        return parse_verifier_key(stripped).public_key
    try:
        key = load_pem_public_key(stripped.encode("ascii"))
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm):
        raise FormatError("not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise FormatError("the PEM public key is not an Ed25519 key")
    return key
