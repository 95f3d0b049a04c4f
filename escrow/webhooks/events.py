"""The webhook event catalogue, and how each event follows from an audit event.

Every webhook event is derived from an audit event inside the transaction that appends it,
so an event is queued exactly when the change it reports commits. Payloads carry
identifiers, organization slugs and API paths, never dataset content, purposes, free-text
reasons or secrets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from escrow.agreements.terms import resolve_grants
from escrow.audit.log import AuditRecord
from escrow.orgs.queries import slugs_of
from storage.models import Agreement, Dataset, Population, WebhookEndpoint

AWAITING_APPROVAL = "agreement.awaiting_approval"
RELEASED = "agreement.released"
REVOKED = "agreement.revoked"
EXPIRING = "agreement.expiring"
DEPOSIT_RECEIVED = "dataset.deposit_received"
OPERATOR_ACTION = "org.operator_action"
OVERLAPS_CHANGED = "overlaps.changed"
ENDPOINT_DISABLED = "webhook.disabled"
PING = "ping"
# What an endpoint may subscribe to (ping is sent on request, to one endpoint).
EVENT_TYPES = (
    AWAITING_APPROVAL,
    RELEASED,
    REVOKED,
    EXPIRING,
    DEPOSIT_RECEIVED,
    OPERATOR_ACTION,
    OVERLAPS_CHANGED,
    ENDPOINT_DISABLED,
)
# The audit action the expiry job records once per agreement, from which EXPIRING follows.
EXPIRING_ACTION = "agreement.expiring"
EXPIRY_NOTICE = timedelta(days=7)
# The audit action recorded when an endpoint's failure budget is spent (failure_budget.py).
DISABLE_ACTION = "webhook.disable"


@dataclass(frozen=True)
class Occurrence:
    """An event for some organizations: data all of them get, plus what each one alone gets."""

    type: str
    data: dict[str, Any]
    recipients: dict[str, dict[str, Any]]  # org id -> data for that organization only
    endpoint_id: str | None = None  # only this endpoint (ping), subscribed or not


Deriver = Callable[[Session, AuditRecord, datetime], "Occurrence | None"]


def derive(session: Session, record: AuditRecord, now: datetime) -> Occurrence | None:
    """The webhook event an audit event gives rise to, if any."""
    deriver = _DERIVERS.get(record.action)
    if deriver is None or record.outcome != "success" or record.resource_id is None:
        return None
    return deriver(session, record, now)


def is_source(record: AuditRecord) -> bool:
    """Cheap pre-check: could this audit event give rise to a webhook event at all?"""
    return record.outcome == "success" and record.action in _DERIVERS


def agreement_data(session: Session, agreement: Agreement) -> dict[str, Any]:
    slugs = slugs_of(session, {agreement.owner_org_id, agreement.beneficiary_org_id})
    return {
        "agreement": {
            "id": agreement.id,
            "href": f"/v1/agreements/{agreement.id}",
            "state": agreement.state,
            "dataset_id": agreement.dataset_id,
            "owner": slugs.get(agreement.owner_org_id),
            "beneficiary": slugs.get(agreement.beneficiary_org_id),
            "expires_at": _iso(agreement.expires_at),
        }
    }


def _agreement(session: Session, record: AuditRecord) -> Agreement | None:
    return session.get(Agreement, record.resource_id)


def _parties(agreement: Agreement) -> dict[str, dict[str, Any]]:
    return {
        agreement.owner_org_id: {"relation": "owner"},
        agreement.beneficiary_org_id: {"relation": "beneficiary"},
    }


def _approvers(session: Session, agreement: Agreement) -> dict[str, dict[str, Any]]:
    """Organization id -> the approver specs under which it may approve."""
    specs: dict[str, list[str]] = {}
    for grant in resolve_grants(session, agreement):
        specs.setdefault(grant.org_id, []).append(grant.spec)
    return {
        org_id: {
            "relation": "approver",
            "approval": {"required": agreement.required_approvals, "as": sorted(names)},
        }
        for org_id, names in specs.items()
    }


def _awaiting_approval(session: Session, record: AuditRecord, _now: datetime) -> Occurrence | None:
    agreement = _agreement(session, record)
    if agreement is None or agreement.state != "pending" or agreement.required_approvals < 1:
        return None
    return Occurrence(
        AWAITING_APPROVAL, agreement_data(session, agreement), _approvers(session, agreement)
    )


def _released(session: Session, record: AuditRecord, _now: datetime) -> Occurrence | None:
    agreement = _agreement(session, record)
    if agreement is None:
        return None
    return Occurrence(RELEASED, agreement_data(session, agreement), _parties(agreement))


def _revoked(session: Session, record: AuditRecord, _now: datetime) -> Occurrence | None:
    """Revoked by the owner or terminated by the beneficiary; a pending agreement so ended
    (``state`` rejected) is also reported to the organizations that were asked to approve."""
    agreement = _agreement(session, record)
    if agreement is None:
        return None
    recipients = _parties(agreement)
    if agreement.state == "rejected":
        recipients = {**_approvers(session, agreement), **recipients}
    by = "owner" if record.action == "agreement.revoke" else "beneficiary"
    data = agreement_data(session, agreement)
    data["agreement"]["ended_by"] = by
    return Occurrence(REVOKED, data, recipients)


def _expiring(session: Session, record: AuditRecord, _now: datetime) -> Occurrence | None:
    agreement = _agreement(session, record)
    if agreement is None or agreement.state != "released":
        return None
    return Occurrence(EXPIRING, agreement_data(session, agreement), _parties(agreement))


def _deposit_received(session: Session, record: AuditRecord, now: datetime) -> Occurrence | None:
    """To the owner, and to every organization the dataset is released to right now.

    The version's size and digest go only to those who may have the original: the owner and
    partners granted it whole. A partner granted a view learns nothing of the original.
    """
    dataset = session.get(Dataset, record.resource_id)
    number = record.details.get("version")
    if dataset is None or not isinstance(number, int):
        return None
    grants = session.execute(
        select(Agreement.beneficiary_org_id, Agreement.view).where(
            Agreement.dataset_id == dataset.id,
            Agreement.state == "released",
            or_(Agreement.expires_at.is_(None), Agreement.expires_at > now),
        )
    ).all()
    whole = {org_id for org_id, view in grants if view is None}
    whole.add(dataset.owner_org_id)
    owner = slugs_of(session, {dataset.owner_org_id}).get(dataset.owner_org_id)
    href = f"/v1/datasets/{dataset.id}"
    version = {"number": number, "href": f"{href}/versions/{number}"}
    original = {
        **version,
        "size": record.details.get("size"),
        "sha256": record.details.get("sha256"),
    }
    recipients: dict[str, dict[str, Any]] = {
        org_id: {"relation": "beneficiary", "version": original if org_id in whole else version}
        for org_id, _ in grants
    }
    recipients[dataset.owner_org_id] = {"relation": "owner", "version": original}
    data = {"dataset": {"id": dataset.id, "href": href, "name": dataset.name, "owner": owner}}
    return Occurrence(DEPOSIT_RECEIVED, data, recipients)


def _operator_action(session: Session, record: AuditRecord, _now: datetime) -> Occurrence | None:
    """An operator acted on the organization's principals or keys: its admins are told."""
    action = record.details.get("operator_action")
    if not isinstance(action, str) or len(record.org_ids) != 1:
        return None
    org_id = record.org_ids[0]
    data = {
        "operator_action": {
            "action": action,
            "org": slugs_of(session, {org_id}).get(org_id),
            "resource_type": record.resource_type,
            "resource_id": record.resource_id,
        }
    }
    return Occurrence(OPERATOR_ACTION, data, {org_id: {}})


def _overlaps_changed(session: Session, record: AuditRecord, _now: datetime) -> Occurrence | None:
    """To the organization that can see the changed count (never the count itself)."""
    viewer, partner = record.details.get("viewer"), record.details.get("partner")
    theirs = session.get(Population, record.resource_id)
    if not isinstance(viewer, str) or not isinstance(partner, str) or theirs is None:
        return None
    slug = slugs_of(session, {partner}).get(partner)
    data = {
        "overlap": {
            "partner": slug,
            "href": f"/v1/overlaps?partner={slug}",
            "mine": {"id": record.details.get("mine")},
            "theirs": {"id": theirs.id, "name": theirs.name},
        }
    }
    return Occurrence(OVERLAPS_CHANGED, data, {viewer: {}})


def _endpoint_disabled(session: Session, record: AuditRecord, _now: datetime) -> Occurrence | None:
    """To the organization's other endpoints (the disabled one no longer receives anything)."""
    if len(record.org_ids) != 1:
        return None
    org_id = record.org_ids[0]
    endpoint = session.get(WebhookEndpoint, record.resource_id)
    if endpoint is None or endpoint.disabled_at is None:
        return None
    slug = slugs_of(session, {org_id}).get(org_id)
    data = {
        "webhook": {
            "id": endpoint.id,
            "href": f"/v1/orgs/{slug}/webhooks/{endpoint.id}",
            "reason": record.reason,
            "disabled_at": endpoint.disabled_at.isoformat(),
            "consecutive_dead": record.details.get("consecutive_dead"),
        }
    }
    return Occurrence(ENDPOINT_DISABLED, data, {org_id: {}})


def _ping(session: Session, record: AuditRecord, _now: datetime) -> Occurrence | None:
    org_id = record.org_ids[0] if record.org_ids else None
    if org_id is None:
        return None
    data = {"webhook": {"id": record.resource_id}}
    return Occurrence(PING, data, {org_id: {}}, endpoint_id=record.resource_id)


_DERIVERS: dict[str, Deriver] = {
    "agreement.create": _awaiting_approval,
    "agreement.release": _released,
    "agreement.revoke": _revoked,
    "agreement.terminate": _revoked,
    EXPIRING_ACTION: _expiring,
    "dataset.deposit": _deposit_received,
    OVERLAPS_CHANGED: _overlaps_changed,
    DISABLE_ACTION: _endpoint_disabled,
    "webhook.ping": _ping,
    **{
        action: _operator_action
        for action in (
            "user.create",
            "service.create",
            "user.suspend",
            "service.suspend",
            "user.reactivate",
            "service.reactivate",
            "key.revoke",
        )
    },
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
