"""What the policy use cases return: stored bundles, a candidate's impact, and explanations.

Built inside the use case while its session is open (see escrow/orgs/results.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escrow.context import Actor
from escrow.policy.explain import Explanation
from escrow.policy.facts import AgreementStatus
from escrow.policy.replay import ImpactReport
from storage.models import PolicyBundleRow


@dataclass(frozen=True, slots=True)
class StoredBundle:
    """A policy bundle as stored: a candidate until activated, retired once another is (and
    activated again to roll back)."""

    id: str
    sha256: str
    state: str  # candidate | active | retired
    author_id: str | None  # a principal; None for the bundle seeded from ESCROW_POLICIES_DIR
    created_at: datetime
    activated_at: datetime | None
    files: dict[str, str]  # relative path -> Polar text
    tests: dict[str, str]  # name.yaml -> YAML text


@dataclass(frozen=True, slots=True)
class BundleImpact:
    """What would change if the candidate replaced the active bundle."""

    candidate: str  # sha256
    active: str  # the active bundle's sha256
    report: ImpactReport


@dataclass(frozen=True, slots=True)
class Explained:
    actor: Actor
    explanation: Explanation
    release_blockers: tuple[str, ...] | None  # agreements only
    # A denied dataset action: the actor's organization's agreements for the dataset.
    agreements: tuple[AgreementStatus, ...] | None


def bundle_of(row: PolicyBundleRow) -> StoredBundle:
    return StoredBundle(
        id=row.id,
        sha256=row.sha256,
        state=row.state,
        author_id=row.author_id,
        created_at=row.created_at,
        activated_at=row.activated_at,
        files=dict(row.files),
        tests=dict(row.tests),
    )
