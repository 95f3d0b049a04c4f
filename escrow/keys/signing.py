"""Rotation of the receipt/checkpoint and token signing keys: stage, promote, retire, audited.

The same order as KEKs, for the same reason: ``stage`` adds a key every replica and
verifier can check signatures with before any signature uses it; distribute the keyring;
``promote`` makes it sign (the old key stays published, verify-only); ``retire`` erases the
old key's seed once no replica signs with it. A retired token key no longer verifies tokens;
a retired receipt key's public half stays published so old receipts and checkpoints verify.
"""

from __future__ import annotations

from crypto import KeyManager, SigningKeyKind
from escrow.audit.log import AuditLog, AuditRecord
from escrow.clock import Clock
from escrow.keys.service import system_context
from storage.db import Database

RESOURCE_TYPES: dict[SigningKeyKind, str] = {
    "receipt": "receipt_signing_key",
    "token": "token_signing_key",
}


class SigningKeyRotation:
    """Stages, promotes and retires the keyring's signing keys, each change audited."""

    def __init__(self, db: Database, keyring: KeyManager, audit: AuditLog, clock: Clock) -> None:
        self._db = db
        self._keyring = keyring
        self._audit = audit
        self._clock = clock

    def stage(self, kind: SigningKeyKind) -> str:
        """A new ``kind`` key, published but signing nothing yet; its id (JWK thumbprint)."""
        key_id = self._keyring.stage_signing_key(kind, at=self._clock.now())
        self._record("keys.stage", kind, key_id)
        return key_id

    def promote(self, kind: SigningKeyKind, key_id: str) -> str:
        """The staged key signs from now on; returns the id of the key it replaces."""
        keyring = self._keyring
        previous = next(k.key_id for k in keyring.signing_keys(kind) if k.state == "active")
        keyring.promote_signing_key(kind, key_id, at=self._clock.now())
        self._record("keys.promote", kind, key_id, previous=previous)
        return previous

    def retire(self, kind: SigningKeyKind, key_id: str) -> None:
        """Erases a non-active key's seed; KeyringError for the active or an unknown key."""
        self._keyring.retire_signing_key(kind, key_id, at=self._clock.now())
        self._record("keys.retire", kind, key_id)

    def _record(self, action: str, kind: SigningKeyKind, key_id: str, **details: str) -> None:
        with self._db.session() as session:
            self._audit.append(
                session,
                system_context(action.replace(".", "-")),
                AuditRecord(action, "success", RESOURCE_TYPES[kind], key_id, details=details),
            )
            session.commit()
