"""HTTP for the audit trail: translate, call the service, translate back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from litestar import Controller, MediaType, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from litestar.response import Stream

from escrow.audit.events import EventFilter
from escrow.audit.trail import AuditTrail
from escrow.auditing.schemas import (
    AuditEventOut,
    ConsistencyProofOut,
    InclusionProofOut,
    PublicKeysOut,
)
from escrow.auditing.service import AuditService
from escrow.paging import DEFAULT_PAGE_SIZE
from escrow.params import Cursor, Limit, QueryText
from escrow.schemas import SLUG_PATTERN, PageOut

Audits = NamedDependency[AuditService]

Trail = NamedDependency[AuditTrail]
BUNDLE_MEDIA_TYPE = "application/x-ndjson"
Org = Annotated[
    str | None,
    QueryParameter(
        max_length=63,
        schema_extra={"pattern": SLUG_PATTERN.pattern},  # documented; unknown slugs are 404
        description="Organization slug (default: all for operators, else your own).",
    ),
]
Since = Annotated[datetime | None, QueryParameter(description="From this time (inclusive).")]
Until = Annotated[datetime | None, QueryParameter(description="Before this time (exclusive).")]
# Bounds in schema_extra are documented; the service checks them against the tree (422).


def _utc(moment: datetime | None) -> datetime | None:
    """Times without an offset are taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


class AuditController(Controller):
    path = "/v1/audit"
    tags = ("audit",)

    @get("/events", sync_to_thread=True, summary="Audit events you may read, in index order")
    def events(
        self,
        audits: Audits,
        org: Org = None,
        since: Since = None,
        until: Until = None,
        actor: QueryText = None,
        action: QueryText = None,
        resource_type: QueryText = None,
        resource_id: QueryText = None,
        outcome: FromQuery[Literal["success", "denied", "failed"] | None] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> PageOut[AuditEventOut]:
        where = EventFilter(
            _utc(since), _utc(until), actor, action, resource_type, resource_id, outcome
        )
        page = audits.list_events(where, org, cursor, limit)
        return PageOut([AuditEventOut.of(found) for found in page.items], page.next_cursor)

    @get(
        "/checkpoint",
        sync_to_thread=True,
        media_type=MediaType.TEXT,
        summary="The latest signed checkpoint (C2SP tlog-checkpoint in a signed note)",
    )
    def checkpoint(self, audits: Audits) -> str:
        return audits.checkpoint().note

    @get(
        "/public-key",
        media_type=MediaType.TEXT,
        opt={"exclude_from_auth": True},
        security=[{}],  # OpenAPI for: no authentication
        summary="The C2SP verifier key that checks new checkpoints (public)",
    )
    async def public_key(self, trail: Trail) -> str:
        return trail.checkpoints.public_key + "\n"

    @get(
        "/public-keys",
        opt={"exclude_from_auth": True},
        security=[{}],  # OpenAPI for: no authentication
        summary="Every key that signs receipts and checkpoints, with its validity (public)",
        description=(
            "Signing keys rotate (stage, promote, retire): this lists every one, oldest first,"
            " retired ones included, so receipts and checkpoints signed before a rotation"
            " still verify offline. Give the document to `escrow audit verify --public-key`"
            " or `escrow receipt verify --public-key`."
        ),
    )
    async def public_keys(self, trail: Trail) -> PublicKeysOut:
        checkpoints = trail.checkpoints
        return PublicKeysOut.of(checkpoints.origin, checkpoints.published_keys())

    @get("/proofs/inclusion", sync_to_thread=True, summary="RFC 9162 inclusion proof")
    def inclusion(
        self,
        audits: Audits,
        index: Annotated[int, QueryParameter(schema_extra={"minimum": 0})],
        size: Annotated[int | None, QueryParameter(schema_extra={"minimum": 1})] = None,
    ) -> InclusionProofOut:
        return InclusionProofOut.of(audits.inclusion(index, size))

    @get("/proofs/consistency", sync_to_thread=True, summary="RFC 9162 consistency proof")
    def consistency(
        self,
        audits: Audits,
        from_size: Annotated[int, QueryParameter(name="from", schema_extra={"minimum": 1})],
        to_size: Annotated[int, QueryParameter(name="to", schema_extra={"minimum": 1})],
    ) -> ConsistencyProofOut:
        proof = audits.consistency(from_size, to_size)
        return ConsistencyProofOut.of(from_size, to_size, proof)

    @get(
        "/export",
        sync_to_thread=True,
        media_type=BUNDLE_MEDIA_TYPE,
        summary="A bundle that `escrow audit verify` checks offline (JSON Lines, streamed)",
    )
    def export(self, audits: Audits, trail: Trail, org: Org = None) -> Stream:
        plan = audits.plan_export(org)
        name = f"audit-{plan.scope}-{plan.checkpoint.size}.jsonl"
        return Stream(
            trail.bundle(plan),
            media_type=BUNDLE_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
