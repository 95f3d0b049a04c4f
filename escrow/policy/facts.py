"""What the policy needs from the features it decides for, passed in rather than imported.

The features (organizations, datasets, agreements, partnerships) import the policy to guard
their use cases; the policy's own use cases (explain, impact) need their rows presented as
policy resources. So the policy names here the functions it needs, each feature provides
its own, and the composition root (``escrow.app.build_components``) hands them over in
``Components.policy_facts``: the imports point one way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from escrow.policy.resources import (
    AgreementResource,
    DatasetResource,
    OrgResource,
    PartnershipResource,
)
from escrow.service import ServiceDeps
from storage.models import Agreement, Dataset, Organization, Partnership


@dataclass(frozen=True)
class Waiting:
    """What blocks a pending agreement now (None once it is not pending)."""

    blockers: tuple[str, ...] | None
    objection_window_ends_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AgreementStatus:
    """An agreement's state and what blocks it, as its beneficiary may read it anyway: the
    explain of a denied dataset action returns these as they are, so they hold no row."""

    id: str
    state: str
    blockers: tuple[str, ...] | None  # None once it is not pending
    not_before: datetime | None
    expires_at: datetime | None
    released_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    objection_window_ends_at: datetime | None


@dataclass(frozen=True)
class PolicyFacts:
    """Each feature's rows as the policy sees them, and the agreements' release status."""

    organization: Callable[[Session, Organization], OrgResource]
    # With ``now``: who holds a release of the dataset at that instant.
    dataset: Callable[[Session, Dataset, datetime], DatasetResource]
    agreement: Callable[[Session, Agreement, datetime], AgreementResource]
    # Without a session the organizations count as active (see replay's use).
    partnership: Callable[[Partnership, Session | None], PartnershipResource]
    # An org's agreements for a dataset (deps, dataset_id, org_id), brought up to date as an
    # access would, with what blocks each pending one.
    agreement_statuses: Callable[[ServiceDeps, str, str], list[AgreementStatus]]
