"""What the partnership use cases return: a partnership with its organizations by slug.

Built inside the use case while its session is open (see escrow/orgs/results.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from storage.models import Partnership


@dataclass(frozen=True, slots=True)
class PartnershipRecord:
    id: str
    orgs: tuple[str, str]  # the two organizations' slugs, sorted
    kind: str
    status: str
    created_at: datetime
    ended_at: datetime | None


def partnership_of(row: Partnership, slugs: Mapping[str, str]) -> PartnershipRecord:
    """``slugs`` maps organization ids to slugs and holds both of the row's organizations."""
    a, b = sorted((slugs[row.org_a_id], slugs[row.org_b_id]))
    return PartnershipRecord(
        id=row.id,
        orgs=(a, b),
        kind=row.kind,
        status=row.status,
        created_at=row.created_at,
        ended_at=row.ended_at,
    )
