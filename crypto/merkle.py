"""RFC 6962 / RFC 9162 Merkle tree hashes, proofs and proof verification.

Hashes: ``leaf = SHA-256(0x00 || data)``, ``node = SHA-256(0x01 || left || right)``, and the
root of ``n > 1`` leaves is ``node(root(first k), root(rest))`` for the largest power of two
``k < n``. ``NodeId(level, index)`` names the perfect subtree over leaves
``[index * 2**level, (index + 1) * 2**level)``.

Proof generation is independent of storage: the caller passes ``subtree_root(start, end)``
and is only ever asked for *perfect, aligned* subtrees, i.e. ranges equal to some
``NodeId(level, index).start, .end`` with ``end <= size`` (leaves are level 0). Storing every
node that ``CompactRange.append`` reports therefore answers each request with one read, and a
proof costs at most about ``2 * log2(size)`` reads: one per proof element, plus the pieces of
the single element (the "ephemeral" node on the tree's right border) that is not itself a
perfect subtree.

Verification is a Python port of transparency-dev/merkle's proof/verify.go, checked against
its published test vectors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

from crypto.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "NodeId",
    "SubtreeRoot",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "perfect_subtrees",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final = 32
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()

SubtreeRoot: TypeAlias = Callable[[int, int], bytes]
"""``subtree_root(start, end)``: the root hash of leaves [start, end), a perfect subtree."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


@dataclass(frozen=True, slots=True, order=True)
class NodeId:
    """The perfect subtree over leaves [index * 2**level, (index + 1) * 2**level)."""

    level: int
    index: int

    def __post_init__(self) -> None:
        if self.level < 0 or self.index < 0:
            raise ValueError("level and index must not be negative")

    @property
    def start(self) -> int:
        return self.index << self.level

    @property
    def end(self) -> int:
        return (self.index + 1) << self.level

    @classmethod
    def covering(cls, start: int, end: int) -> NodeId:
        """The node whose leaves are exactly [start, end); ValueError if there is none."""
        width = end - start
        level = width.bit_length() - 1
        if start < 0 or width <= 0 or width != 1 << level or start % width:
            raise ValueError(f"[{start}, {end}) is not a perfect aligned subtree")
        return cls(level, start >> level)


def perfect_subtrees(start: int, end: int) -> list[NodeId]:
    """The maximal perfect subtrees that tile [start, end), left to right."""
    nodes: list[NodeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        nodes.append(NodeId(level, start >> level))
        start += 1 << level
    return nodes


class CompactRange:
    """Roots of the perfect subtrees tiling leaves [0, size), leftmost (largest) first.

    Enough to append leaves and compute the tree head without reading older leaves.
    """

    __slots__ = ("_roots", "_size")

    def __init__(self, size: int = 0, roots: Sequence[bytes] = ()) -> None:
        if size < 0 or len(roots) != size.bit_count():
            raise ValueError(f"a compact range of size {size} has {max(size, 0).bit_count()} roots")
        self._size = size
        self._roots = list(roots)

    @staticmethod
    def nodes_for_size(size: int) -> list[NodeId]:
        """Which stored nodes to load to resume appending at ``size``."""
        return perfect_subtrees(0, size)

    @property
    def size(self) -> int:
        return self._size

    @property
    def roots(self) -> tuple[bytes, ...]:
        return tuple(self._roots)

    def append(self, leaf: bytes) -> list[tuple[NodeId, bytes]]:
        """Adds a leaf hash; returns every perfect subtree completed by it, the leaf first."""
        if len(leaf) != HASH_SIZE:
            raise ValueError("leaf hashes are 32 bytes")
        node, digest = NodeId(0, self._size), leaf
        completed = [(node, digest)]
        while node.index & 1:
            digest = node_hash(self._roots.pop(), digest)
            node = NodeId(node.level + 1, node.index >> 1)
            completed.append((node, digest))
        self._roots.append(digest)
        self._size += 1
        return completed

    def root(self) -> bytes:
        """The RFC 6962 tree head of leaves [0, size)."""
        return _fold(self._roots) if self._roots else EMPTY_ROOT


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Right-to-left fold: the root of adjacent subtrees whose sizes shrink left to right."""
    digest = hashes[-1]
    for left in reversed(hashes[:-1]):
        digest = node_hash(left, digest)
    return digest


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    """The RFC 6962 root of the given leaf hashes, in O(log n) memory."""
    tree = CompactRange()
    for leaf in leaf_hashes:
        tree.append(leaf)
    return tree.root()


def _largest_power_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def _range_root(start: int, end: int, subtree_root: SubtreeRoot) -> bytes:
    """Root of leaves [start, end) where start is aligned as RFC 6962's split guarantees."""
    hashes = [subtree_root(node.start, node.end) for node in perfect_subtrees(start, end)]
    if any(len(digest) != HASH_SIZE for digest in hashes):
        raise ValueError("subtree_root must return 32-byte hashes")
    return _fold(hashes)


def inclusion_proof(index: int, size: int, subtree_root: SubtreeRoot) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(index, D[0:size]), bottom-up, from perfect subtree roots."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        middle = start + _largest_power_below(end - start)
        if index < middle:
            proof.append(_range_root(middle, end, subtree_root))
            end = middle
        else:
            proof.append(_range_root(start, middle, subtree_root))
            start = middle
    proof.reverse()
    return proof


def consistency_proof(size1: int, size2: int, subtree_root: SubtreeRoot) -> list[bytes]:
    """RFC 9162 2.1.4.1 PROOF(size1, D[0:size2]) for 0 < size1 <= size2, bottom-up."""
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to {size2}")
    proof: list[bytes] = []
    start, end, known = 0, size2, True  # known: the old root itself is the verifier's seed
    while size1 != end:
        middle = start + _largest_power_below(end - start)
        if size1 <= middle:
            proof.append(_range_root(middle, end, subtree_root))
            end = middle
        else:
            proof.append(_range_root(start, middle, subtree_root))
            start, known = middle, False
    if not known:
        proof.append(_range_root(start, end, subtree_root))
    proof.reverse()
    return proof


def _check_hashes(proof: Sequence[bytes]) -> None:
    if any(len(digest) != HASH_SIZE for digest in proof):
        raise ProofError("every proof element must be a 32-byte hash")


def _decompose(index: int, size: int) -> tuple[int, int]:
    """Proof lengths below and above the point where the paths to index and size-1 meet."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for level, digest in enumerate(proof):
        seed = node_hash(seed, digest) if (index >> level) & 1 == 0 else node_hash(digest, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for level, digest in enumerate(proof):
        if (index >> level) & 1:
            seed = node_hash(digest, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for digest in proof:
        seed = node_hash(digest, seed)
    return seed


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Fails closed: ProofError unless ``proof`` puts ``leaf`` at ``index`` under ``root``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    if len(leaf) != HASH_SIZE:
        raise ProofError("the leaf hash must be 32 bytes")
    _check_hashes(proof)
    inner, border = _decompose(index, size)
    if len(proof) != inner + border:
        raise ProofError(f"inclusion proof has {len(proof)} hashes, expected {inner + border}")
    computed = _chain_border_right(_chain_inner(leaf, proof[:inner], index), proof[inner:])
    if computed != root:
        raise ProofError("inclusion proof does not lead to the expected root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Fails closed: ProofError unless the size1 tree is a prefix of the size2 tree.

    A tree of size 0 has nothing to be consistent with: size1 == 0 is always rejected.
    """
    if not 0 < size1 <= size2:
        raise ProofError(f"no consistency proof from size {size1} to {size2}")
    if size1 == size2:
        if proof or root1 != root2:
            raise ProofError("equal sizes need an empty proof and equal roots")
        return
    _check_hashes(proof)
    inner, border = _decompose(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    # The proof starts with the root of the subtree of size 2**shift, unless that is size1.
    if size1 == 1 << shift:
        seed, rest = root1, proof
    elif proof:
        seed, rest = proof[0], proof[1:]
    else:
        raise ProofError("consistency proof is empty")
    if len(rest) != inner + border:
        raise ProofError(f"consistency proof has {len(proof)} hashes, which is not the length")
    mask = (size1 - 1) >> shift
    old = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    if old != root1:
        raise ProofError("consistency proof does not lead to the old root")
    new = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    if new != root2:
        raise ProofError("consistency proof does not lead to the new root")
