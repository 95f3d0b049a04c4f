"""Reclaiming blobs that no live version owns (a crashed upload, a failed shred delete)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from escrow.clock import Clock
from storage.blobs import BlobStore, LocalBlobStore
from storage.db import Database
from storage.models import DatasetVersion

PREFIX = "datasets/"


@dataclass(frozen=True)
class Collection:
    orphans: list[str]
    deleted: int
    temp_files_swept: int


def _created_at(blob_key: str) -> datetime | None:
    """Version ids are UUIDv7, so a blob's name says when its upload started."""
    try:
        version_id = uuid.UUID(blob_key.rsplit("/", 1)[-1].removesuffix(".bin"))
    except ValueError:
        return None
    return datetime.fromtimestamp((version_id.int >> 80) / 1000, tz=UTC)


def collect_garbage(
    db: Database, blobs: BlobStore, clock: Clock, grace: timedelta, dry_run: bool
) -> Collection:
    """Deletes blobs older than ``grace`` with no version row, or whose version is shredded.

    The grace period protects uploads still in flight, whose row is not committed yet.
    """
    cutoff = clock.now() - grace
    with db.session() as session:
        live = set(
            session.scalars(
                select(DatasetVersion.blob_key).where(DatasetVersion.wrapped_dek.is_not(None))
            )
        )
    orphans = []
    for key in blobs.iter_keys(PREFIX):
        created = _created_at(key)
        if key not in live and (created is None or created < cutoff):
            orphans.append(key)
    if not dry_run:
        for key in orphans:
            blobs.delete(key)
    swept = 0
    if isinstance(blobs, LocalBlobStore) and not dry_run:
        swept = blobs.sweep_stale_temp(grace.total_seconds())
    return Collection(orphans, 0 if dry_run else len(orphans), swept)
