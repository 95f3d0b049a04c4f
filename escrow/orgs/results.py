"""What the organization use cases return: an organization as the API shows it.

Results are built inside the use case while its session is open. Sessions keep what they
loaded across a commit (``expire_on_commit=False``, storage/db.py), so a result built after
the commit holds what the transaction wrote and costs no query; nothing reads a row once the
session is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.models import Organization


@dataclass(frozen=True, slots=True)
class Org:
    id: str
    slug: str
    name: str
    tier: str
    status: str
    created_at: datetime
    updated_at: datetime


def org_of(row: Organization) -> Org:
    return Org(
        id=row.id,
        slug=row.slug,
        name=row.name,
        tier=row.tier,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
