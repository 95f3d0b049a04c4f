"""Audit event bodies."""

from __future__ import annotations

import msgspec


class AuditEventOut(msgspec.Struct):
    index: int  # the sequence number, which is the Merkle leaf index
    leaf_hash: str | None  # base64 SHA-256(0x00 || entry)
    entry: str  # the canonical JSON (RFC 8785) event: exactly the leaf's bytes
