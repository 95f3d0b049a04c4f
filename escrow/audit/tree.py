"""The audit log's Merkle tree as stored in ``audit_nodes``: appends, tree heads and proofs.

Every perfect subtree root that ``CompactRange.append`` completes is stored, so the tree head
of any size and any RFC 9162 proof is computed from at most about ``2 * log2(size)`` stored
hashes, fetched in one query. Hashing and proof logic live in ``crypto.merkle``; this module
only decides which rows to read and write.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import ColumnElement, and_, or_, select, tuple_
from sqlalchemy.orm import Session

from crypto import (
    EMPTY_ROOT,
    CompactRange,
    NodeId,
    SubtreeRoot,
    consistency_proof,
    inclusion_proof,
)
from storage.models import AuditHead, AuditNode

_PLACEHOLDER = bytes(32)
_ROW_LIST = 128


class AuditIntegrityError(Exception):
    """The stored log contradicts itself (missing nodes, a shrunken tree, an inconsistent
    checkpoint). Never expected: it means the database was changed outside the service."""


class MerkleTree:
    """The tree through one session; reads see what is committed (or written by the session)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def size(self) -> int:
        """The committed tree size; reading it takes no lock."""
        return int(self.session.scalar(select(AuditHead.size).where(AuditHead.id == 1)) or 0)

    def compact_range(self, size: int) -> CompactRange:
        """What appending at ``size`` needs: the roots of the perfect subtrees tiling [0, size)."""
        ids = CompactRange.nodes_for_size(size)
        hashes = self._nodes(ids)
        return CompactRange(size, [hashes[node] for node in ids])

    def root(self, size: int) -> bytes:
        """RFC 6962 root of the first ``size`` leaves."""
        return self.compact_range(size).root() if size else EMPTY_ROOT

    def leaf_hash(self, index: int) -> bytes:
        return self._nodes([NodeId(0, index)])[NodeId(0, index)]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 audit path of leaf ``index`` in the tree of ``size`` leaves."""
        return self._with_nodes(lambda subtree_root: inclusion_proof(index, size, subtree_root))

    def leaf_and_inclusion_proof(self, index: int, size: int) -> tuple[bytes, list[bytes]]:
        """Leaf ``index``'s hash and its audit path, from one read."""
        leaf = NodeId(0, index)
        found: dict[NodeId, bytes] = {}
        proof = self._with_nodes(
            lambda subtree_root: inclusion_proof(index, size, subtree_root), [leaf], found
        )
        return found[leaf], proof

    def inclusion_proofs(self, indexes: Sequence[int], size: int) -> dict[int, list[bytes]]:
        """The audit paths of several leaves of the ``size`` tree, from one read."""
        wanted: list[NodeId] = []

        def record(start: int, end: int) -> bytes:
            wanted.append(NodeId.covering(start, end))
            return _PLACEHOLDER

        for index in indexes:
            inclusion_proof(index, size, record)
        hashes = self._nodes(wanted)
        return {
            index: inclusion_proof(index, size, lambda s, e: hashes[NodeId.covering(s, e)])
            for index in indexes
        }

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """RFC 9162 proof that the ``size1`` tree is a prefix of the ``size2`` tree."""
        return self._with_nodes(lambda subtree_root: consistency_proof(size1, size2, subtree_root))

    def _with_nodes(
        self,
        compute: Callable[[SubtreeRoot], list[bytes]],
        also: Sequence[NodeId] = (),
        into: dict[NodeId, bytes] | None = None,
    ) -> list[bytes]:
        """Runs a proof twice: once to learn which nodes it reads, then on one batched read
        (which also fetches the nodes ``also``, and leaves everything read in ``into``)."""
        wanted: list[NodeId] = list(also)

        def record(start: int, end: int) -> bytes:
            wanted.append(NodeId.covering(start, end))
            return _PLACEHOLDER

        compute(record)
        hashes = self._nodes(wanted)
        if into is not None:
            into.update(hashes)
        return compute(lambda start, end: hashes[NodeId.covering(start, end)])

    def _nodes(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        """Fails closed: AuditIntegrityError if any requested node is not stored."""
        if not ids:
            return {}
        keys = sorted({(node.level, node.index) for node in ids})
        if len(keys) <= _ROW_LIST:  # a proof or two: one list of (level, idx) keys plans fastest
            where: ColumnElement[bool] = tuple_(AuditNode.level, AuditNode.idx).in_(keys)
        else:  # many proofs at once (a scoped export page): one key list per level
            by_level: dict[int, list[int]] = {}
            for level, index in keys:
                by_level.setdefault(level, []).append(index)
            where = or_(
                *(
                    and_(AuditNode.level == level, AuditNode.idx.in_(indexes))
                    for level, indexes in by_level.items()
                )
            )
        rows = self.session.execute(
            select(AuditNode.level, AuditNode.idx, AuditNode.hash).where(where)
        )
        found = {NodeId(int(level), int(index)): bytes(digest) for level, index, digest in rows}
        missing = [node for node in ids if node not in found]
        if missing:
            raise AuditIntegrityError(f"audit tree node {missing[0]} is missing")
        return found
