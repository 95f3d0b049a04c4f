"""Audit trail response bodies. Hashes are standard base64, as in checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from crypto import NoteVerifier, SigningKeyInfo
from escrow.audit.bundle import b64
from escrow.audit.events import FoundEvent
from escrow.audit.verifier_keys import PUBLIC_KEYS_FORMAT
from escrow.auditing.service import InclusionProof


class AuditEventOut(msgspec.Struct):
    index: int  # the sequence number, which is the Merkle leaf index
    leaf_hash: str | None  # base64 SHA-256(0x00 || entry)
    entry: str  # the canonical JSON (RFC 8785) event: exactly the leaf's bytes

    @classmethod
    def of(cls, found: FoundEvent) -> AuditEventOut:
        leaf = None if found.leaf_hash is None else b64(found.leaf_hash)
        return cls(index=found.seq, leaf_hash=leaf, entry=found.entry)


class InclusionProofOut(msgspec.Struct):
    index: int
    tree_size: int
    leaf_hash: str
    proof: list[str]  # RFC 9162 audit path, bottom-up
    checkpoint: str | None  # the signed checkpoint of tree_size, unless a size was asked for

    @classmethod
    def of(cls, found: InclusionProof) -> InclusionProofOut:
        return cls(
            index=found.index,
            tree_size=found.tree_size,
            leaf_hash=b64(found.leaf_hash),
            proof=[b64(digest) for digest in found.proof],
            checkpoint=found.checkpoint,
        )


class ConsistencyProofOut(msgspec.Struct):
    from_size: int = msgspec.field(name="from")
    to_size: int = msgspec.field(name="to")
    proof: list[str] = msgspec.field(default_factory=list)  # RFC 9162, bottom-up

    @classmethod
    def of(cls, from_size: int, to_size: int, proof: list[bytes]) -> ConsistencyProofOut:
        return cls(from_size, to_size, [b64(digest) for digest in proof])


class VerifierKeyOut(msgspec.Struct):
    key_id: str  # RFC 7638 thumbprint: the key_id of the receipts it signed
    state: Literal["staged", "active", "verify-only", "retired"]
    algorithm: Literal["Ed25519"]
    verifier_key: str  # C2SP verifier key under the log's origin: checks its checkpoints
    public_key_pem: str
    valid_from: datetime | None  # when it started signing (null: from the start)
    valid_until: datetime | None  # when it stopped signing (null: still signing, or never)

    @classmethod
    def of(cls, info: SigningKeyInfo, verifier: NoteVerifier) -> VerifierKeyOut:
        return cls(
            key_id=info.key_id,
            state=info.state,
            algorithm="Ed25519",
            verifier_key=verifier.key_string(),
            public_key_pem=info.public_key_pem(),
            valid_from=info.activated_at,
            valid_until=info.deactivated_at,
        )


class PublicKeysOut(msgspec.Struct):
    """Every key that signed (or will sign) receipts and checkpoints, oldest first; what
    ``escrow audit verify`` and ``escrow receipt verify`` take as ``--public-key``."""

    format: Literal["partner-escrow/audit-public-keys/v1"]
    origin: str
    keys: list[VerifierKeyOut]

    @classmethod
    def of(cls, origin: str, published: list[tuple[SigningKeyInfo, NoteVerifier]]) -> PublicKeysOut:
        keys = [VerifierKeyOut.of(info, verifier) for info, verifier in published]
        return cls(format=PUBLIC_KEYS_FORMAT, origin=origin, keys=keys)
