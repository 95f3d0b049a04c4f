"""Writing audit bundles (format in escrow.audit.bundle) straight from the database, streamed.

Events are immutable once committed, so reading them in batches, each in its own short
session, yields the same bundle as one long transaction would, without holding a
connection while a slow client downloads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from escrow.audit.bundle import BUNDLE_FORMAT, b64
from escrow.audit.checkpoints import SignedCheckpoint
from escrow.audit.events import FoundEvent, events_by_seq, events_in_range, org_event_seqs
from escrow.audit.tree import MerkleTree
from storage.db import Database

BATCH = 1000


@dataclass(frozen=True)
class ExportPlan:
    """What to export: every event under ``checkpoint``, or those touching ``org_id``."""

    origin: str
    checkpoint: SignedCheckpoint
    org_id: str | None = None

    @property
    def scope(self) -> str:
        return "full" if self.org_id is None else "org"


def bundle_chunks(db: Database, plan: ExportPlan, batch: int = BATCH) -> Iterator[bytes]:
    """The bundle as chunks of whole lines, one chunk per batch of events."""
    yield _line(
        {
            "format": BUNDLE_FORMAT,
            "origin": plan.origin,
            "checkpoint": plan.checkpoint.note,
            "tree_size": plan.checkpoint.size,
            "scope": plan.scope,
            "org": plan.org_id,
        }
    )
    count = 0
    for lines in _pages(db, plan, batch):
        count += len(lines)
        yield b"".join(lines)
    yield _line({"end": True, "events": count})


def _pages(db: Database, plan: ExportPlan, batch: int) -> Iterator[list[bytes]]:
    """The event lines in index order, at most ``batch`` per page, each page read in its own
    session.

    Every query reads a bounded index range whatever plan the planner makes, so an export
    stays linear before the tables have statistics (a plan estimating a handful of rows
    sorts the whole rest of a keyset range; bounding the range bounds that sort). The whole
    log is read in windows of ``batch`` indexes. One org's events are read from its
    ``(org_id, seq)`` index in windows that double while they come back short (sparse
    stretches) and shrink to about two pages' span when full, then looked up by key.
    """
    size = plan.checkpoint.size
    after = -1
    if plan.org_id is None:
        while after < size - 1:
            last = min(after + batch, size - 1)
            with db.session() as session:
                found = events_in_range(session, after + 1, last)
            after = last
            if found:
                yield [_event_line(event, None) for event in found]
        return
    span = batch
    while after < size - 1:
        last = min(after + span, size - 1)
        with db.session() as session:
            seqs = org_event_seqs(session, plan.org_id, after, last, batch)
            found = events_by_seq(session, seqs)
            proofs = MerkleTree(session).inclusion_proofs(seqs, size)
        if len(seqs) == batch:
            span = max(batch, 2 * (seqs[-1] - after))
            after = seqs[-1]
        else:
            span *= 2
            after = last
        if found:
            yield [_event_line(event, proofs[event.seq]) for event in found]


def _event_line(event: FoundEvent, proof: list[bytes] | None) -> bytes:
    item: dict[str, object] = {
        "index": event.seq,
        "entry": event.entry,
        "leaf_hash": None if event.leaf_hash is None else b64(event.leaf_hash),
    }
    if proof is not None:
        item["proof"] = [b64(digest) for digest in proof]
    return _line(item)


def _line(value: dict[str, object]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
