from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import (
    EMPTY_ROOT,
    CompactRange,
    NodeId,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    perfect_subtrees,
    root_of,
    verify_consistency,
    verify_inclusion,
)


def _vector_root() -> Path:
    override = os.environ.get("ESCROW_TESTVECTORS")
    base = Path(override) if override else Path(__file__).parents[2] / "vectors"
    return base / "merkle"


VECTORS = _vector_root()


def _vector_files(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json")) if VECTORS.is_dir() else []


def _vector_params(kind: str) -> list[Path]:
    # A missing directory must fail the run, not turn into an empty (skipped) parametrization.
    return _vector_files(kind) or [VECTORS / kind / "missing.json"]


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _proof(data: dict[str, Any]) -> list[bytes]:
    return [_b64(item) for item in data["proof"] or []]


def _rfc6962_leaves() -> list[bytes]:
    data = _load(VECTORS / "rfc6962-roots.json")
    return [leaf_hash(bytes.fromhex(item)) for item in data["leaf_inputs_hex"]]


def _mth(leaves: list[bytes]) -> bytes:
    """Independent oracle: RFC 6962 section 2.1 MTH, written recursively."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


class SubtreeStore:
    """subtree_root backed by leaves; records and checks every range it is asked for."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.requests: list[tuple[int, int]] = []

    def __call__(self, start: int, end: int) -> bytes:
        NodeId.covering(start, end)  # raises unless a perfect, aligned subtree
        assert end <= len(self.leaves)
        self.requests.append((start, end))
        return _mth(self.leaves[start:end])


def _leaves(count: int) -> list[bytes]:
    return [leaf_hash(index.to_bytes(4, "big")) for index in range(count)]


def test_vector_directory_is_present() -> None:
    assert VECTORS.is_dir(), f"shared Merkle test vectors missing at {VECTORS}"
    assert len(_vector_files("inclusion")) > 50
    assert len(_vector_files("consistency")) > 50


def test_rfc6962_roots_for_every_size() -> None:
    data = _load(VECTORS / "rfc6962-roots.json")
    leaves = _rfc6962_leaves()
    for size, want in enumerate(data["root_hashes_hex_by_tree_size"]):
        assert root_of(leaves[:size]).hex() == want
        assert _mth(leaves[:size]).hex() == want


@pytest.mark.parametrize(
    "path", _vector_params("inclusion"), ids=lambda p: str(p.relative_to(VECTORS))
)
def test_inclusion_vector(path: Path) -> None:
    case = _load(path)
    args = (case["leafIdx"], case["treeSize"], _b64(case["leafHash"]), _proof(case))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args, _b64(case["root"]))
    else:
        verify_inclusion(*args, _b64(case["root"]))


@pytest.mark.parametrize(
    "path", _vector_params("consistency"), ids=lambda p: str(p.relative_to(VECTORS))
)
def test_consistency_vector(path: Path) -> None:
    case = _load(path)
    args = (case["size1"], case["size2"], _proof(case), _b64(case["root1"]), _b64(case["root2"]))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def _happy_paths(kind: str) -> list[dict[str, Any]]:
    return [_load(path) for path in _vector_files(kind) if path.name == "happy-path.json"]


def test_generated_proofs_equal_the_published_happy_paths() -> None:
    leaves = _rfc6962_leaves()
    checked = 0
    for case in _happy_paths("inclusion"):
        size = case["treeSize"]
        if root_of(leaves[:size]) == _b64(case["root"]):
            store = SubtreeStore(leaves[:size])
            assert inclusion_proof(case["leafIdx"], size, store) == _proof(case)
            checked += 1
    for case in _happy_paths("consistency"):
        size1, size2 = case["size1"], case["size2"]
        if root_of(leaves[:size2]) == _b64(case["root2"]):
            store = SubtreeStore(leaves[:size2])
            assert consistency_proof(size1, size2, store) == _proof(case)
            checked += 1
    assert checked >= 6


@settings(max_examples=150, deadline=None, database=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_inclusion_proofs_verify_and_cost_logarithmic_reads(case: tuple[int, int]) -> None:
    size, index = case
    leaves = _leaves(size)
    store = SubtreeStore(leaves)
    proof = inclusion_proof(index, size, store)
    verify_inclusion(index, size, leaves[index], proof, _mth(leaves))
    assert len(store.requests) <= 2 * size.bit_length()


@settings(max_examples=150, deadline=None, database=None)
@given(st.integers(1, 300).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_consistency_proofs_verify_and_cost_logarithmic_reads(case: tuple[int, int]) -> None:
    size1, size2 = case
    leaves = _leaves(size2)
    store = SubtreeStore(leaves)
    proof = consistency_proof(size1, size2, store)
    verify_consistency(size1, size2, proof, _mth(leaves[:size1]), _mth(leaves))
    assert len(store.requests) <= 2 * size2.bit_length() + 1


def _flip(proof: list[bytes], element: int, bit: int) -> list[bytes]:
    mutated = bytearray(proof[element])
    mutated[bit // 8] ^= 1 << (bit % 8)
    return [*proof[:element], bytes(mutated), *proof[element + 1 :]]


@settings(max_examples=100, deadline=None, database=None)
@given(st.integers(2, 200), st.data())
def test_mutated_inclusion_proofs_fail(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, size - 1))
    leaves = _leaves(size)
    root = _mth(leaves)
    proof = inclusion_proof(index, size, SubtreeStore(leaves))
    element = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    for bad_index, bad_proof, bad_root in [
        (index, _flip(proof, element, bit), root),
        (index, proof[:-1], root),
        (index, [*proof, root], root),
        ((index + 1) % size, proof, root),
        (index, proof, leaf_hash(b"other")),
    ]:
        with pytest.raises(ProofError):
            verify_inclusion(bad_index, size, leaves[index], bad_proof, bad_root)


@settings(max_examples=100, deadline=None, database=None)
@given(st.integers(2, 200), st.data())
def test_mutated_consistency_proofs_fail(size2: int, data: st.DataObject) -> None:
    size1 = data.draw(st.integers(1, size2 - 1))
    leaves = _leaves(size2)
    root1, root2 = _mth(leaves[:size1]), _mth(leaves)
    proof = consistency_proof(size1, size2, SubtreeStore(leaves))
    element = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    for bad_proof, bad_root1, bad_root2 in [
        (_flip(proof, element, bit), root1, root2),
        (proof[:-1], root1, root2),
        ([*proof, root2], root1, root2),
        (proof, root2, root1),
        (proof, root1, leaf_hash(b"other")),
    ]:
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, bad_proof, bad_root1, bad_root2)


def test_consistency_from_an_empty_tree_is_refused() -> None:
    with pytest.raises(ValueError):
        consistency_proof(0, 5, SubtreeStore(_leaves(5)))
    with pytest.raises(ProofError):
        verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)


def test_proof_generation_rejects_out_of_range_arguments() -> None:
    store = SubtreeStore(_leaves(4))
    with pytest.raises(ValueError):
        inclusion_proof(4, 4, store)
    with pytest.raises(ValueError):
        consistency_proof(5, 4, store)


def test_compact_range_reports_every_perfect_subtree_once() -> None:
    leaves = _leaves(37)
    tree = CompactRange()
    reported: dict[NodeId, bytes] = {}
    for size, leaf in enumerate(leaves, start=1):
        for node, digest in tree.append(leaf):
            assert node not in reported
            reported[node] = digest
        assert tree.size == size
        assert tree.root() == _mth(leaves[:size])
    for node, digest in reported.items():
        assert digest == _mth(leaves[node.start : node.end])
    expected = {(level, index) for level in range(6) for index in range(37 >> level)}
    assert {(node.level, node.index) for node in reported} == expected


def test_compact_range_resumes_from_stored_nodes() -> None:
    leaves = _leaves(23)
    nodes = CompactRange.nodes_for_size(13)
    assert [(node.start, node.end) for node in nodes] == [(0, 8), (8, 12), (12, 13)]
    resumed = CompactRange(13, [_mth(leaves[node.start : node.end]) for node in nodes])
    for leaf in leaves[13:]:
        resumed.append(leaf)
    assert resumed.root() == root_of(leaves)
    with pytest.raises(ValueError):
        CompactRange(13, [EMPTY_ROOT])


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert root_of([]) == EMPTY_ROOT == CompactRange().root()
    assert EMPTY_ROOT.hex().startswith("e3b0c442")


def test_perfect_subtrees_tile_any_range() -> None:
    for start in range(40):
        for end in range(start, 41):
            nodes = perfect_subtrees(start, end)
            covered = [leaf for node in nodes for leaf in range(node.start, node.end)]
            assert covered == list(range(start, end))
            assert all(NodeId.covering(node.start, node.end) == node for node in nodes)


def test_node_covering_rejects_unaligned_ranges() -> None:
    assert NodeId.covering(8, 12) == NodeId(2, 2)
    for start, end in [(1, 3), (0, 3), (4, 4), (6, 10)]:
        with pytest.raises(ValueError):
            NodeId.covering(start, end)
