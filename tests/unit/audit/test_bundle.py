"""The offline bundle verifier on synthetic logs: what passes, and what it names when not."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from crypto import (
    Checkpoint,
    CompactRange,
    ServiceSigner,
    canonical_json,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    sign_note,
)
from escrow.audit.bundle import (
    BUNDLE_FORMAT,
    BundleError,
    b64,
    open_checkpoint,
    verify_bundle,
    verify_checkpoint_consistency,
)

ORIGIN = "partner-escrow.dev/audit/test"


@dataclass
class Log:
    signer: ServiceSigner
    entries: list[bytes] = field(default_factory=list)
    nodes: dict[tuple[int, int], bytes] = field(default_factory=dict)

    def append(self, count: int) -> None:
        tree = CompactRange()
        for entry in self.entries:
            tree.append(leaf_hash(entry))
        for _ in range(count):
            entry = canonical_json({"seq": len(self.entries), "action": "org.create"})
            self.entries.append(entry)
            for node, digest in tree.append(leaf_hash(entry)):
                self.nodes[(node.start, node.end)] = digest

    def root(self, size: int) -> bytes:
        tree = CompactRange()
        for entry in self.entries[:size]:
            tree.append(leaf_hash(entry))
        return tree.root()

    def note(self, size: int | None = None) -> str:
        size = len(self.entries) if size is None else size
        text = Checkpoint(ORIGIN, size, self.root(size)).to_text()
        return sign_note(text, ORIGIN, self.signer)

    def proof(self, index: int, size: int) -> list[str]:
        return [b64(d) for d in inclusion_proof(index, size, lambda s, e: self.nodes[(s, e)])]

    def bundle(self, indexes: list[int] | None = None) -> list[dict[str, object]]:
        size = len(self.entries)
        header: dict[str, object] = {
            "format": BUNDLE_FORMAT,
            "origin": ORIGIN,
            "checkpoint": self.note(),
        }
        header |= {"tree_size": size, "scope": "full" if indexes is None else "org", "org": None}
        lines: list[dict[str, object]] = [header]
        for index in range(size) if indexes is None else indexes:
            entry = self.entries[index]
            item: dict[str, object] = {
                "index": index,
                "entry": entry.decode(),
                "leaf_hash": b64(leaf_hash(entry)),
            }
            if indexes is not None:
                item["proof"] = self.proof(index, size)
            lines.append(item)
        lines.append({"end": True, "events": len(lines) - 1})
        return lines


def _encode(lines: list[dict[str, object]]) -> list[bytes]:
    return [json.dumps(line).encode() + b"\n" for line in lines]


def _fails(lines: list[dict[str, object]], log: Log, where: str) -> BundleError:
    with pytest.raises(BundleError) as failure:
        verify_bundle(_encode(lines), log.signer.verifier(ORIGIN))
    assert failure.value.where == where, failure.value
    return failure.value


@pytest.fixture
def log() -> Log:
    result = Log(ServiceSigner.generate())
    result.append(13)
    return result


def test_full_and_scoped_bundles_verify(log: Log) -> None:
    report = verify_bundle(_encode(log.bundle()), log.signer.verifier(ORIGIN))
    assert (report.events, report.tree_size, report.scope) == (13, 13, "full")
    assert report.root_hash == log.root(13)
    scoped = verify_bundle(_encode(log.bundle([0, 5, 12])), log.signer.verifier(ORIGIN))
    assert (scoped.events, scoped.scope) == (3, "org")


def test_a_changed_entry_is_named(log: Log) -> None:
    lines = log.bundle()
    lines[5]["entry"] = str(lines[5]["entry"]).replace("org.create", "org.delete")
    assert "changed" in str(_fails(lines, log, "entry 4"))


def test_an_entry_changed_with_its_leaf_hash_breaks_the_root(log: Log) -> None:
    lines = log.bundle()
    forged = canonical_json({"seq": 4, "action": "org.delete"})
    lines[5] |= {"entry": forged.decode(), "leaf_hash": b64(leaf_hash(forged))}
    _fails(lines, log, "root")


def test_missing_swapped_and_extra_entries_are_named(log: Log) -> None:
    lines = log.bundle()
    _fails([*lines[:4], *lines[5:-1], {"end": True, "events": 12}], log, "entry 3")
    swapped = log.bundle()
    swapped[3]["entry"], swapped[8]["entry"] = swapped[8]["entry"], swapped[3]["entry"]
    assert "sequence number 7" in str(_fails(swapped, log, "entry 2"))
    beyond = log.bundle()
    beyond.insert(-1, {"index": 13, "entry": "{}", "leaf_hash": None})
    _fails(beyond, log, "entry 13")


def test_a_truncated_bundle_or_log_is_detected(log: Log) -> None:
    _fails(log.bundle()[:-1], log, "bundle")
    lines = log.bundle()
    _fails([*lines[:-3], {"end": True, "events": 11}], log, "entry 11")
    _fails([*lines[:-1], {"end": True, "events": 99}], log, "bundle")


def test_signature_and_header_are_checked(log: Log) -> None:
    lines = log.bundle()
    other = Log(ServiceSigner.generate())
    other.append(13)
    _fails([{**lines[0], "checkpoint": other.note()}, *lines[1:]], log, "checkpoint")
    _fails([{**lines[0], "tree_size": 12}, *lines[1:]], log, "header")
    with pytest.raises(BundleError, match="checkpoint"):
        verify_bundle(_encode(lines), other.signer.verifier(ORIGIN))


def test_scoped_entries_need_a_valid_proof(log: Log) -> None:
    lines = log.bundle([2, 9])
    lines[2]["proof"] = log.proof(8, 13)
    assert "inclusion proof" in str(_fails(lines, log, "entry 9"))
    del lines[1]["proof"]
    _fails(lines, log, "entry 2")


def test_checkpoint_consistency(log: Log) -> None:
    verifier = log.signer.verifier(ORIGIN)
    old = open_checkpoint(log.note(5), verifier)
    new = open_checkpoint(log.note(13), verifier)
    proof = [b64(d) for d in consistency_proof(5, 13, lambda s, e: log.nodes[(s, e)])]
    verify_checkpoint_consistency(old, new, proof)
    with pytest.raises(BundleError, match="not consistent"):
        verify_checkpoint_consistency(old, new, proof[1:])
    with pytest.raises(BundleError, match="larger"):
        verify_checkpoint_consistency(new, old, proof)
    forked = Log(log.signer)
    forked.append(13)
    forked.entries[2] = canonical_json({"seq": 2, "action": "forked"})
    with pytest.raises(BundleError, match="not consistent"):
        verify_checkpoint_consistency(old, open_checkpoint(forked.note(13), verifier), proof)
