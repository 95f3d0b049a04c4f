"""Signed checkpoints: C2SP tlog-checkpoints in signed notes, kept as one consistent chain.

Each new checkpoint is issued only after a consistency proof from the latest stored one
verifies against the stored tree, and ``audit_checkpoints.previous_size`` is unique, so two
issuers racing (two replicas, the schedule and a request) cannot fork the chain: the loser's
insert fails and it retries against the winner's checkpoint.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crypto import (
    Checkpoint,
    CryptoError,
    NoteVerifier,
    ServiceSigner,
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


def default_origin(signer: ServiceSigner) -> str:
    """A stable origin unique to this deployment: it names the log by its signing key."""
    return ORIGIN_PREFIX + hashlib.sha256(signer.public_key_bytes).hexdigest()[:16]


@dataclass(frozen=True)
class SignedCheckpoint:
    size: int
    root_hash: bytes
    note: str  # the signed note, exactly as served
    issued_at: datetime


class CheckpointIssuer:
    """Signs tree heads with the service key under the log's origin (also the note key name)."""

    def __init__(self, signer: ServiceSigner, origin: str, clock: Clock) -> None:
        self.origin = origin
        self.verifier: NoteVerifier = signer.verifier(origin)
        self._signer = signer
        self._clock = clock

    @property
    def public_key(self) -> str:
        """The C2SP verifier key: ``<origin>+<8 hex key id>+base64(0x01 || public key)``."""
        return self.verifier.key_string()

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
                Checkpoint(self.origin, size, root).to_text(), self.origin, self._signer
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
            signed = Checkpoint.parse(open_note(latest.note, self.verifier))
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
