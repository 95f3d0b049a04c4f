"""The audit bundle format and its offline verifier (no server, no database: crypto only).

A bundle is JSON Lines (one JSON object per line, UTF-8), so both ends stream it in
constant memory however long the log is:

- line 1, the header: ``{"format": "partner-escrow/audit-bundle/v1", "origin": ...,
  "checkpoint": <signed note>, "tree_size": N, "scope": "full" | "org", "org": <id> | null}``
- one line per event, in index order: ``{"index": i, "entry": <the leaf's bytes as a
  string>, "leaf_hash": <base64 of the stored leaf hash> | null, "proof": [<base64>, ...]}``;
  a full export holds every index below N and omits ``proof`` (recomputing the root proves
  every entry's inclusion at once), a scoped export holds the org's events, each with its
  RFC 9162 inclusion proof against the checkpoint.
- the last line, the trailer: ``{"end": true, "events": <number of event lines>}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from crypto import (
    Checkpoint,
    CompactRange,
    CryptoError,
    NoteVerifier,
    leaf_hash,
    open_note,
    verify_consistency,
    verify_inclusion,
)

BUNDLE_FORMAT = "partner-escrow/audit-bundle/v1"
SCOPES = ("full", "org")


class BundleError(Exception):
    """The first problem found, and where: ``entry 17``, ``checkpoint``, ``root``, ``bundle``."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


@dataclass(frozen=True)
class BundleReport:
    origin: str
    tree_size: int
    root_hash: bytes
    scope: str
    org: str | None
    events: int


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def unb64(text: object, where: str) -> bytes:
    if not isinstance(text, str):
        raise BundleError(where, "a hash must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError(where, "a hash is not valid base64") from None


Verifiers = NoteVerifier | Sequence[NoteVerifier]  # several: the log's keys across rotations


def open_checkpoint(note: str, verifier: Verifiers, where: str = "checkpoint") -> Checkpoint:
    """Fails closed: the checkpoint only if ``verifier`` (or one of the log's published keys)
    signed it under the key's own name, which is the checkpoint's origin."""
    verifiers = [verifier] if isinstance(verifier, NoteVerifier) else list(verifier)
    try:
        checkpoint = Checkpoint.parse(open_note(note, verifiers))
        named = [known for known in verifiers if known.name == checkpoint.origin]
        if named and len(named) < len(verifiers):  # opened by a key of another name?
            open_note(note, named)
    except CryptoError as exc:
        raise BundleError(where, f"signature or format does not verify ({exc})") from None
    if not named:
        names = sorted({known.name for known in verifiers})
        raise BundleError(where, f"origin {checkpoint.origin!r} is not the key's {names[0]!r}")
    return checkpoint


def verify_bundle(lines: Iterable[bytes | str], verifier: Verifiers) -> BundleReport:
    """Fails closed: BundleError naming the first bad entry, else what was verified."""
    reader = iter(lines)
    header = _json_line(next(reader, None), "header")
    if header.get("format") != BUNDLE_FORMAT:
        raise BundleError("header", f"format is not {BUNDLE_FORMAT!r}")
    if not isinstance(header.get("checkpoint"), str):
        raise BundleError("header", "carries no checkpoint")
    checkpoint = open_checkpoint(header["checkpoint"], verifier)
    if header.get("origin") != checkpoint.origin or header.get("tree_size") != checkpoint.size:
        raise BundleError("header", "origin or tree_size differ from the signed checkpoint")
    scope = header.get("scope")
    if scope not in SCOPES:
        raise BundleError("header", f"scope must be one of {SCOPES}")
    events = _EventChecker(checkpoint, full=scope == "full")
    trailer = None
    for number, raw in enumerate(reader, start=2):
        if trailer is not None:
            raise BundleError("bundle", f"line {number} follows the trailer")
        item = _json_line(raw, f"line {number}")
        if "end" in item:
            trailer = item
        else:
            events.check(item)
    if trailer is None:
        raise BundleError("bundle", f"truncated: no trailer after {events.count} events")
    if trailer != {"end": True, "events": events.count}:
        raise BundleError("bundle", f"trailer does not say {events.count} events")
    events.finish()
    org = header.get("org")
    return BundleReport(
        checkpoint.origin,
        checkpoint.size,
        checkpoint.root_hash,
        scope,
        org if isinstance(org, str) else None,
        events.count,
    )


class _EventChecker:
    """Checks event lines in order; in a full bundle, rebuilds the tree as it goes."""

    def __init__(self, checkpoint: Checkpoint, *, full: bool) -> None:
        self.checkpoint = checkpoint
        self.full = full
        self.count = 0
        self.next_index = 0
        self.tree = CompactRange()

    def check(self, item: dict[str, Any]) -> None:
        index = item.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            raise BundleError(f"line {self.count + 2}", "has no integer index")
        where = f"entry {index}"
        if index < self.next_index:
            raise BundleError(where, "is duplicated or out of order")
        if index >= self.checkpoint.size:
            raise BundleError(where, f"is beyond the checkpoint's {self.checkpoint.size} entries")
        if self.full and index != self.next_index:
            raise BundleError(f"entry {self.next_index}", "is missing from the log")
        entry = item.get("entry")
        if not isinstance(entry, str):
            raise BundleError(where, "has no entry text")
        digest = _check_entry(entry.encode("utf-8"), index, item.get("leaf_hash"), where)
        proof = item.get("proof")
        if proof is not None or not self.full:
            self._check_proof(index, digest, proof, where)
        if self.full:
            self.tree.append(digest)
        self.next_index = index + 1
        self.count += 1

    def _check_proof(self, index: int, digest: bytes, proof: object, where: str) -> None:
        if not isinstance(proof, list):
            raise BundleError(where, "has no inclusion proof")
        hashes = [unb64(element, where) for element in proof]
        try:
            verify_inclusion(index, self.checkpoint.size, digest, hashes, self.checkpoint.root_hash)
        except CryptoError as exc:
            raise BundleError(where, f"inclusion proof does not verify ({exc})") from None

    def finish(self) -> None:
        if not self.full:
            return
        if self.tree.size != self.checkpoint.size:
            raise BundleError(f"entry {self.tree.size}", "is missing from the log")
        if self.tree.root() != self.checkpoint.root_hash:
            raise BundleError("root", "the entries do not hash to the checkpoint's root")


def _check_entry(entry: bytes, index: int, stated: object, where: str) -> bytes:
    try:
        event = json.loads(entry)
    except ValueError:
        raise BundleError(where, "is not JSON") from None
    except RecursionError:  # the decoder recurses per nesting level
        raise BundleError(where, "is not JSON (nested too deeply)") from None
    if not isinstance(event, dict) or event.get("seq") != index:
        seq = event.get("seq") if isinstance(event, dict) else None
        raise BundleError(where, f"records sequence number {seq} (moved, swapped or renumbered)")
    digest = leaf_hash(entry)
    if stated is None:
        raise BundleError(where, "has no leaf in the tree")
    if unb64(stated, where) != digest:
        raise BundleError(where, "content does not match its leaf hash in the tree (changed)")
    return digest


def _json_line(raw: bytes | str | None, where: str) -> dict[str, Any]:
    if raw is None:
        raise BundleError("bundle", "is empty")
    try:
        value = json.loads(raw)
    except ValueError:
        raise BundleError(where, "is not a JSON line") from None
    except RecursionError:  # the decoder recurses per nesting level
        raise BundleError(where, "is not a JSON line (nested too deeply)") from None
    if not isinstance(value, dict):
        raise BundleError(where, "is not a JSON object")
    return value


def verify_checkpoint_consistency(
    old: Checkpoint, new: Checkpoint, proof: Sequence[str] | None
) -> None:
    """Fails closed: BundleError unless the ``old`` tree is a prefix of the ``new`` one.

    Open both with ``open_checkpoint`` first; ``proof`` is the base64 RFC 9162 consistency
    proof from ``old.size`` to ``new.size`` (not needed when the old tree is empty).
    """
    if old.origin != new.origin:
        raise BundleError("checkpoints", "are from different logs")
    if old.size > new.size:
        raise BundleError("checkpoints", f"the old one ({old.size}) is larger than the new one")
    if old.size == 0:
        return  # the empty tree is a prefix of every tree
    if proof is None:
        raise BundleError("checkpoints", "a consistency proof is needed")
    hashes = [unb64(element, "consistency proof") for element in proof]
    try:
        verify_consistency(old.size, new.size, hashes, old.root_hash, new.root_hash)
    except CryptoError as exc:
        raise BundleError("checkpoints", f"are not consistent ({exc})") from None
