"""Audit trail response bodies. Hashes are standard base64, as in checkpoints."""

from __future__ import annotations

import msgspec

from escrow.audit.bundle import b64
from escrow.audit.events import FoundEvent
from escrow.audit.service import InclusionProof


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
