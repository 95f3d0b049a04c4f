"""Signed checkpoints: C2SP tlog-checkpoints in signed notes, kept as one consistent chain.

Each new checkpoint is issued only after a consistency proof from the latest stored one
verifies against the stored tree, and ``audit_checkpoints.previous_size`` is unique, so two
issuers racing (two replicas, the schedule and a request) cannot fork the chain: the loser's
insert fails and it retries against the winner's checkpoint.

The active receipt key signs; the chain accepts a checkpoint signed by any published one, so
a checkpoint signed before a rotation is extended by one signed after it. The origin, which is
also the note key name, stays the same across rotations.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto import (
    Checkpoint,
    CryptoError,
    NoteVerifier,
    ServiceSigner,
    SigningKeyInfo,
    SigningKeyKind,
    open_note,
    sign_note,
    verify_consistency,
)
from escrow.audit.tree import AuditIntegrityError, MerkleTree
from escrow.clock import Clock
from escrow.errors import UnavailableError
from storage.models import AuditCheckpoint

log = logging.getLogger("escrow.audit")

ORIGIN_PREFIX = "partner-escrow.dev/audit/"
_ATTEMPTS = 5


class CheckpointKeys(Protocol):
    """Where the receipt keys live (the Keyring): the one that signs, and every one."""

    @property
    def service_signer(self) -> ServiceSigner: ...

    def signing_keys(self, kind: SigningKeyKind) -> list[SigningKeyInfo]: ...


def default_origin(keys: CheckpointKeys) -> str:
    """A stable origin unique to this deployment: it names the log by its first signing key,
    whose public half every rotation keeps, so the origin outlives rotations."""
    first = keys.signing_keys("receipt")[0]
    return ORIGIN_PREFIX + hashlib.sha256(first.public_key_bytes).hexdigest()[:16]


@dataclass(frozen=True)
class SignedCheckpoint:
    size: int
    root_hash: bytes
    note: str  # the signed note, exactly as served
    issued_at: datetime


class CheckpointIssuer:
    """Signs tree heads with the active receipt key under the log's origin (also the note key
    name); verifies stored ones with every published receipt key."""

    def __init__(self, keys: CheckpointKeys, origin: str, clock: Clock) -> None:
        self.origin = origin
        self._keys = keys
        self._clock = clock

    @property
    def verifier(self) -> NoteVerifier:
        """The note verifier of the key that signs new checkpoints."""
        return self._keys.service_signer.verifier(self.origin)

    @property
    def public_key(self) -> str:
        """The C2SP verifier key of the signing key: ``<origin>+<8 hex key id>+base64(0x01 ||
        public key)``."""
        return self.verifier.key_string()

    def published_keys(self) -> list[tuple[SigningKeyInfo, NoteVerifier]]:
        """Every receipt key, oldest first, with its note verifier under this origin."""
        return [
            (info, NoteVerifier(self.origin, info.public_key))
            for info in self._keys.signing_keys("receipt")
        ]

    def verifiers(self) -> list[NoteVerifier]:
        return [verifier for _, verifier in self.published_keys()]

    def latest(self, session: Session) -> SignedCheckpoint | None:
        row = session.scalar(
            select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1)
        )
        return None if row is None else _stored(row)

    def current(self, session: Session) -> SignedCheckpoint:
        """The latest checkpoint, issuing one first if the tree has grown past it."""
        latest = self.latest(session)
        if latest is not None and latest.size >= MerkleTree(session).size():
            return latest
        return self.issue(session)

    def issue(self, session: Session) -> SignedCheckpoint:
        """Fails closed: stores and returns a checkpoint of the committed tree only if it is
        consistent with the latest stored checkpoint (AuditIntegrityError otherwise).

        Returns a checkpoint covering at least the tree committed when called: its own, or
        one that a concurrent issuer stored meanwhile (under load every replica races to sign,
        and insisting on its own signature would make most of them lose again and again).
        Commits the session: call it with no other changes pending.
        """
        wanted: int | None = None
        for _ in range(_ATTEMPTS):
            latest = self.latest(session)
            tree = MerkleTree(session)
            size = tree.size()
            wanted = size if wanted is None else wanted
            if latest is not None and latest.size >= wanted:
                return latest
            root = tree.root(size)
            if latest is not None:
                self._check_extends(tree, latest, size, root)
            note = sign_note(
                Checkpoint(self.origin, size, root).to_text(),
                self.origin,
                self._keys.service_signer,
            )
            row = AuditCheckpoint(
                tree_size=size,
                previous_size=-1 if latest is None else latest.size,
                root_hash=root,
                note=note,
                issued_at=self._clock.now(),
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # another issuer extended the chain first: build on theirs
                session.rollback()
                continue
            return _stored(row)
        raise UnavailableError(
            f"could not extend the checkpoint chain in {_ATTEMPTS} tries (contention); retry"
        )

    def _check_extends(
        self, tree: MerkleTree, latest: SignedCheckpoint, size: int, root: bytes
    ) -> None:
        try:
            signed = Checkpoint.parse(open_note(latest.note, self.verifiers()))
        except CryptoError as exc:
            raise _integrity(
                f"the latest checkpoint ({latest.size}) does not verify: {exc}"
            ) from exc
        if (signed.origin, signed.size, signed.root_hash) != (
            self.origin,
            latest.size,
            latest.root_hash,
        ):
            raise _integrity(f"the latest checkpoint ({latest.size}) contradicts its row")
        if size < latest.size:
            raise _integrity(f"the tree shrank from {latest.size} to {size} leaves")
        if latest.size == 0:
            return  # the empty tree is a prefix of every tree
        proof = tree.consistency_proof(latest.size, size)
        try:
            verify_consistency(latest.size, size, proof, latest.root_hash, root)
        except CryptoError as exc:
            raise _integrity(f"the tree at {size} does not extend {latest.size}: {exc}") from exc


def _integrity(message: str) -> AuditIntegrityError:
    log.error("audit log integrity: %s; refusing to sign a new checkpoint", message)
    return AuditIntegrityError(message)


def _stored(row: AuditCheckpoint) -> SignedCheckpoint:
    return SignedCheckpoint(row.tree_size, bytes(row.root_hash), row.note, row.issued_at)
