"""Writing audit bundles (format in escrow.audit.bundle) straight from the database, streamed.

Events are immutable once committed, so reading them in batches, each in its own short
session, yields the same bundle as one long transaction would, without holding a
connection while a slow client downloads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.orm import Session

from escrow.audit.bundle import BUNDLE_FORMAT, b64
from escrow.audit.checkpoints import SignedCheckpoint
from escrow.audit.events import EventFilter, find_events
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
    count, after = 0, -1
    while True:
        with db.session() as session:
            lines = _event_lines(session, plan, after, batch)
        if not lines:
            break
        count += len(lines)
        after = lines[-1][0]
        yield b"".join(line for _, line in lines)
    yield _line({"end": True, "events": count})


def _event_lines(
    session: Session, plan: ExportPlan, after: int, batch: int
) -> list[tuple[int, bytes]]:
    size = plan.checkpoint.size
    found = find_events(session, EventFilter(below=size), plan.org_id, after, batch)
    tree = MerkleTree(session)
    lines = []
    for event in found:
        item: dict[str, object] = {
            "index": event.seq,
            "entry": event.entry,
            "leaf_hash": None if event.leaf_hash is None else b64(event.leaf_hash),
        }
        if plan.org_id is not None:
            item["proof"] = [b64(digest) for digest in tree.inclusion_proof(event.seq, size)]
        lines.append((event.seq, _line(item)))
    return lines


def _line(value: dict[str, object]) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
