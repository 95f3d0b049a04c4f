"""Policy bundle, impact and explain bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from escrow.cli.client.models import Request

Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class BundleIn(Request):
    files: dict[str, str]  # relative path -> Polar text; main.polar required
    tests: dict[str, str] = msgspec.field(default_factory=dict)  # name.yaml -> YAML text


class ImpactIn(Request):
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100


class BundleSummaryOut(msgspec.Struct):
    id: str
    sha256: str
    state: str
    author: str | None
    created_at: datetime
    activated_at: datetime | None
    files: list[str]
    tests: list[str]


class BundleOut(msgspec.Struct):
    id: str
    sha256: str
    state: str
    author: str | None
    created_at: datetime
    activated_at: datetime | None
    files: dict[str, str]
    tests: dict[str, str]


class DecisionFlipOut(msgspec.Struct):
    seq: int
    occurred_at: datetime
    actor: str | None
    event: str
    action: str
    resource: dict[str, str | None]
    recorded: str
    active: str
    candidate: str


class ReleaseChangeOut(msgspec.Struct):
    agreement_id: str
    dataset_id: str
    owner_org_id: str
    beneficiary_org_id: str
    active: str
    candidate: str
    active_blockers: list[str]
    candidate_blockers: list[str]


class ImpactOut(msgspec.Struct):
    candidate: str
    active: str
    replayed: int
    skipped: int
    flips: list[DecisionFlipOut]
    pending_checked: int
    releases: list[ReleaseChangeOut]


class ResourceRef(Request):
    type: Literal["organization", "dataset", "agreement", "partnership"]
    id: Identifier


class ExplainIn(Request):
    action: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z_]{0,63}$")]
    resource: ResourceRef
    actor: Identifier | None = None


class WouldGrantOut(msgspec.Struct):
    rule: str
    unmet: str


class AgreementStatusOut(msgspec.Struct):
    id: str
    state: str
    blockers: list[str] | None
    not_before: datetime | None
    expires_at: datetime | None
    released_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    objection_window_ends_at: datetime | None


class ExplainOut(msgspec.Struct):
    actor: str
    action: str
    resource: dict[str, str]
    allowed: bool
    policy_version: str
    rule: str | None
    path: list[str]
    actor_roles: list[str]
    roles_on_resource: list[str]
    release_blockers: list[str] | None = None
    would_grant: list[WouldGrantOut] = msgspec.field(default_factory=list)
    agreements: list[AgreementStatusOut] | None = None
