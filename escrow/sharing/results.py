"""What the sharing use cases return: recipient profiles, and the protocol's tables and
snapshots as a recipient sees them.

Built inside the use case while its session is open (see escrow/orgs/results.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from storage.models import Dataset, DatasetVersion, SharingFile, SharingProfile


@dataclass(frozen=True, slots=True)
class Profile:
    """A recipient profile as its organization's admins see it: never its token."""

    id: str
    name: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedProfile:
    """A new profile and its bearer token: the only moment the token exists outside its
    holder."""

    profile: Profile
    bearer_token: str = field(repr=False)  # kept out of logs and tracebacks


@dataclass(frozen=True, slots=True)
class SharedTable:
    """A live released agreement to the recipient's organization, as a protocol table."""

    name: str
    share: str  # the owner organization's slug
    share_id: str  # the owner organization's id
    id: str  # the agreement's id


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    """The one Parquet file a snapshot is read from."""

    id: str
    size: int
    stats: str  # the protocol's per-file statistics, as JSON
    schema_string: str  # the Spark-style schema of the file
    view_sha256: str  # what the file is of: the agreement's view, or "whole"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A table at one version, materialized: what metadata and query describe."""

    table: SharedTable
    version: int
    deposited_at: datetime  # when that version was deposited
    description: str  # the dataset's
    file: SnapshotFile


def profile_of(row: SharingProfile) -> Profile:
    return Profile(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def snapshot_of(
    table: SharedTable, dataset: Dataset, version: DatasetVersion, file: SharingFile
) -> Snapshot:
    return Snapshot(
        table=table,
        version=version.number,
        deposited_at=version.created_at,
        description=dataset.description,
        file=SnapshotFile(file.id, file.size, file.stats, file.schema_string, file.view_sha256),
    )
