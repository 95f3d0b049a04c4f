"""``escrow agreements``: escrow terms, decisions, attestation, release, revocation."""

from __future__ import annotations

import csv
import io
import json
from typing import IO, Any

import click

from escrow.cli.client.exits import usage_error
from escrow.cli.client.invocation import (
    Invocation,
    build,
    client_command,
    listing_options,
    show_list,
)
from escrow.cli.client.models.agreements import (
    AgreementCreate,
    AgreementOut,
    AttestationIn,
    DecisionIn,
    PreviewOut,
    ReasonIn,
)
from escrow.cli.client.output import fields

COLUMNS = [
    ("id", lambda a: a.id),
    ("dataset", lambda a: a.dataset_id),
    ("owner", lambda a: a.owner),
    ("beneficiary", lambda a: a.beneficiary),
    ("state", lambda a: a.state),
    ("blockers", lambda a: a.blockers),
]
SHOWN = [
    "id",
    "dataset_id",
    "owner",
    "beneficiary",
    "purpose",
    "state",
    "blockers",
    "approvals",
    "view",
    "not_before",
    "expires_at",
    "objection_window_hours",
    "attestation",
    "released_at",
    "ended_at",
    "end_reason",
    "created_at",
]


def show_agreement(agreement: AgreementOut) -> None:
    fields(agreement, SHOWN)
    for decision in agreement.decisions:
        click.echo(
            f"decision: {decision.decision} by {decision.principal} as {decision.approver}"
            f" at {decision.created_at.isoformat(timespec='seconds')}"
        )
    if agreement.release_receipt:
        click.echo(f"release receipt: {json.dumps(agreement.release_receipt, sort_keys=True)}")


def _emit(inv: Invocation, agreement: AgreementOut) -> None:
    inv.out.emit(agreement, lambda: show_agreement(agreement))


@click.group()
def agreements() -> None:
    """Escrow agreements: terms for one beneficiary, approvals, release."""


@agreements.command()
@click.argument("dataset_id")
@click.option("--beneficiary", help="The org (slug) the dataset is released to.")
@click.option("--purpose", help="Why the beneficiary needs it.")
@click.option(
    "--approver",
    "approvers",
    multiple=True,
    metavar="SPEC",
    help="owner:<role>, beneficiary:<role>, operator or org:<slug>:<role> (repeat)"
    " [owner:steward].",
)
@click.option(
    "--approvals",
    "required",
    type=click.IntRange(0, 20),
    help="How many approvals release it [one per --approver].",
)
@click.option("--not-before", help="Embargo: not released before (RFC 3339).")
@click.option("--expires-at", help="Access ends then (RFC 3339).")
@click.option("--objection-window-hours", type=click.IntRange(1, 24 * 90))
@click.option("--attestation", metavar="EVENT:ORG", help="Released only once ORG attests EVENT.")
@click.option("--field", "view_fields", multiple=True, help="A granted column (repeat).")
@click.option(
    "--where", help='Granted rows: JSON such as {"field": "region", "op": "eq", "value": "EU"}.'
)
@click.option(
    "--terms",
    "terms_file",
    type=click.File("r"),
    help="Start from this JSON document (the API's body); options override it.",
)
@client_command
def create(
    inv: Invocation,
    dataset_id: str,
    terms_file: IO[str] | None,
    **options: Any,
) -> None:
    """Propose terms releasing DATASET_ID to a partner (owner stewards, admins)."""
    terms = build(AgreementCreate, _terms(terms_file, **options))
    agreement = inv.client.call(
        "POST", f"/v1/datasets/{dataset_id}/agreements", AgreementOut, body=terms
    )
    _emit(inv, agreement)


def _terms(
    terms_file: IO[str] | None,
    beneficiary: str | None,
    purpose: str | None,
    approvers: tuple[str, ...],
    required: int | None,
    not_before: str | None,
    expires_at: str | None,
    objection_window_hours: int | None,
    attestation: str | None,
    view_fields: tuple[str, ...],
    where: str | None,
) -> dict[str, Any]:
    terms: dict[str, Any] = _json(terms_file.read(), "--terms") if terms_file else {}
    if not isinstance(terms, dict):
        raise usage_error("--terms must hold a JSON object")
    approvals = dict(terms.get("approvals") or {})
    if approvers or "from" not in approvals:
        approvals["from"] = list(approvers) or ["owner:steward"]
    if required is not None or "required" not in approvals:
        approvals["required"] = required if required is not None else len(approvals["from"])
    overrides = {
        "beneficiary": beneficiary,
        "purpose": purpose,
        "approvals": approvals,
        "not_before": not_before,
        "expires_at": expires_at,
        "objection_window_hours": objection_window_hours,
    }
    terms.update({k: v for k, v in overrides.items() if v is not None})
    if attestation:
        event, _, org = attestation.partition(":")
        terms["attestation"] = {"event": event, "by": org}
    if view_fields or where:
        view = dict(terms.get("view") or {})
        if view_fields:
            view["fields"] = list(view_fields)
        if where:
            view["where"] = _json(where, "--where")
        terms["view"] = view
    for required_field in ("beneficiary", "purpose"):
        if not terms.get(required_field):
            raise usage_error(f"--{required_field} is required (or give it in --terms)")
    return terms


def _json(text: str, option: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise usage_error(f"{option} is not JSON: {exc}") from None


@agreements.command("list")
@listing_options
@client_command
def list_agreements(inv: Invocation, limit: int, cursor: str | None, every: bool) -> None:
    """Agreements your organization is party to."""
    show_list(inv, "/v1/agreements", AgreementOut, COLUMNS, limit=limit, cursor=cursor, every=every)


@agreements.command()
@click.argument("agreement_id")
@client_command
def show(inv: Invocation, agreement_id: str) -> None:
    """The terms, the decisions so far and what still blocks release."""
    _emit(inv, inv.client.get(f"/v1/agreements/{agreement_id}", AgreementOut))


def _decide(inv: Invocation, agreement_id: str, decision: str, reason: str) -> None:
    body = build(DecisionIn, {"decision": decision, "reason": reason})
    path = f"/v1/agreements/{agreement_id}/approvals"
    _emit(inv, inv.client.call("POST", path, AgreementOut, body=body))


reason_option = click.option("--reason", default="", help="Recorded with the decision.")


@agreements.command()
@click.argument("agreement_id")
@reason_option
@client_command
def approve(inv: Invocation, agreement_id: str, reason: str) -> None:
    """Approve as one of the named approvers; it is released once the rule holds."""
    _decide(inv, agreement_id, "approve", reason)


@agreements.command()
@click.argument("agreement_id")
@reason_option
@client_command
def reject(inv: Invocation, agreement_id: str, reason: str) -> None:
    """Reject as one of the named approvers: the agreement ends."""
    _decide(inv, agreement_id, "reject", reason)


@agreements.command()
@click.argument("agreement_id")
@click.option("--event", required=True, help="The trigger, e.g. insolvency or sla_breach.")
@click.option("--statement", default="", help="What happened, for the record.")
@client_command
def attest(inv: Invocation, agreement_id: str, event: str, statement: str) -> None:
    """Attest the escrow trigger (stewards/admins of the designated organization)."""
    body = build(AttestationIn, {"event": event, "statement": statement})
    path = f"/v1/agreements/{agreement_id}/attestations"
    _emit(inv, inv.client.call("POST", path, AgreementOut, body=body))


def _act(inv: Invocation, agreement_id: str, action: str, reason: str | None = None) -> None:
    body = None if reason is None else build(ReasonIn, {"reason": reason})
    path = f"/v1/agreements/{agreement_id}/{action}"
    _emit(inv, inv.client.call("POST", path, AgreementOut, body=body))


@agreements.command()
@click.argument("agreement_id")
@client_command
def release(inv: Invocation, agreement_id: str) -> None:
    """Release now if the release rule holds (exit 5 with the blockers otherwise)."""
    _act(inv, agreement_id, "release")


@agreements.command()
@click.argument("agreement_id")
@reason_option
@client_command
def revoke(inv: Invocation, agreement_id: str, reason: str) -> None:
    """End it at once (owner): released -> revoked, pending -> rejected."""
    _act(inv, agreement_id, "revoke", reason)


@agreements.command()
@click.argument("agreement_id")
@reason_option
@client_command
def terminate(inv: Invocation, agreement_id: str, reason: str) -> None:
    """End it early (beneficiary admins): released -> revoked, pending -> rejected."""
    _act(inv, agreement_id, "terminate", reason)


@agreements.command("object")
@click.argument("agreement_id")
@click.option("--reason", required=True, help="Why the owner objects.")
@client_command
def object_(inv: Invocation, agreement_id: str, reason: str) -> None:
    """Object during the objection window (owner stewards): the agreement is rejected."""
    _act(inv, agreement_id, "objections", reason)


@agreements.command()
@click.argument("agreement_id")
@click.option("--rows", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--version", "number", type=click.IntRange(min=1), help="[the latest]")
@client_command
def preview(inv: Invocation, agreement_id: str, rows: int, number: int | None) -> None:
    """The first rows the beneficiary would receive (owner stewards), before approving."""
    params = {"rows": rows, "version": number}
    found = inv.client.get(f"/v1/agreements/{agreement_id}/preview", PreviewOut, params)

    def human() -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for row in found.rows:
            if isinstance(row, list):
                writer.writerow(row)
            else:
                buffer.write(json.dumps(row, sort_keys=True) + "\n")
        click.echo(buffer.getvalue(), nl=False)

    inv.out.emit(found, human)
