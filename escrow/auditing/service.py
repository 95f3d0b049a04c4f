"""Audit trail use cases: scoped reading, checkpoints, proofs and exports."""

from __future__ import annotations

from dataclasses import dataclass

from escrow.audit.checkpoints import SignedCheckpoint
from escrow.audit.events import EventFilter, find_events
from escrow.audit.export import ExportPlan
from escrow.audit.trail import AuditTrail
from escrow.audit.tree import MerkleTree
from escrow.errors import ValidationError
from escrow.guard import Target
from escrow.orgs.queries import as_resource, find_org_or_none
from escrow.paging import Page, decode_number_cursor, paginate
from escrow.policy.resources import AuditLogResource
from escrow.service import Service, ServiceDeps
from storage.models import Organization


@dataclass(frozen=True)
class InclusionProof:
    index: int
    tree_size: int
    leaf_hash: bytes
    proof: list[bytes]
    checkpoint: str | None


class AuditService(Service):
    def __init__(self, deps: ServiceDeps, trail: AuditTrail) -> None:
        super().__init__(deps)
        self.trail = trail

    def list_events(
        self, where: EventFilter, org: str | None, cursor: str | None, limit: int
    ) -> Page:
        """Operators see every event; others the events touching their org (or ``org``)."""
        org_id = self._readable_scope(org)
        after = _cursor_seq(cursor)
        self.trail.catch_up(self.session)
        return paginate(
            find_events(self.session, where, org_id, after, limit + 1), limit, key="seq"
        )

    def checkpoint(self) -> SignedCheckpoint:
        """The latest signed checkpoint, issued now if the tree has grown past it."""
        self._require_tree()
        self.trail.catch_up(self.session)
        return self.trail.checkpoints.current(self.session)

    def public_key(self) -> str:
        return self.trail.checkpoints.public_key

    def inclusion(self, index: int, size: int | None) -> InclusionProof:
        """The audit path of leaf ``index``: against the current checkpoint unless ``size``."""
        self._require_tree()
        self.trail.catch_up(self.session)
        note = None
        if size is None:
            signed = self.trail.checkpoints.current(self.session)
            size, note = signed.size, signed.note
        else:
            self._check_size(size, "size")
        if not 0 <= index < size:
            raise ValidationError(f"index must be below the tree size {size}", field="index")
        leaf, proof = MerkleTree(self.session).leaf_and_inclusion_proof(index, size)
        return InclusionProof(index, size, leaf, proof, note)

    def consistency(self, from_size: int, to_size: int) -> list[bytes]:
        self._require_tree()
        self.trail.catch_up(self.session)
        self._check_size(to_size, "to")
        if not 1 <= from_size <= to_size:
            raise ValidationError("from must be between 1 and to", field="from")
        return MerkleTree(self.session).consistency_proof(from_size, to_size)

    def plan_export(self, org: str | None) -> ExportPlan:
        """Everything for operators (unless ``org``); the events touching one org otherwise."""
        org_id = self._readable_scope(org)
        self.trail.catch_up(self.session)
        signed = self.trail.checkpoints.current(self.session)
        return ExportPlan(self.trail.checkpoints.origin, signed, org_id)

    def _readable_scope(self, org: str | None) -> str | None:
        """Fails closed: the org whose events the caller may read (None: all); denials are
        audited, and an org the caller may not even see answers 404."""
        if org is None:
            if self.guard.allows(self.ctx, "read", AuditLogResource()):
                return None
            target = self.session.get(Organization, self.ctx.principal.org_id)
            if target is None:  # pragma: no cover - authentication loaded this org
                raise ValidationError("caller has no organization")
        else:
            found = find_org_or_none(self.session, org)
            if found is None:
                self.guard.deny_missing(
                    self.session, self.ctx, "read", Target("audit_log", None, named=org)
                )
            target = found
        resource = as_resource(self.session, target)
        self.guard.require(
            self.session,
            self.ctx,
            "read",
            AuditLogResource(resource),
            Target("audit_log", target.id, (target.id,), named=org),
            conceal=not self.guard.allows(self.ctx, "read", resource),
        )
        return target.id

    def _require_tree(self) -> None:
        self.guard.require(
            self.session, self.ctx, "read_tree", AuditLogResource(), Target("audit_log", None)
        )

    def _check_size(self, size: int, name: str) -> None:
        current = MerkleTree(self.session).size()
        if not 1 <= size <= current:
            raise ValidationError(
                f"{name} must be between 1 and the tree size {current}", field=name
            )


def _cursor_seq(cursor: str | None) -> int | None:
    return decode_number_cursor(cursor)
