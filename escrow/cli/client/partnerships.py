"""``escrow partnerships``: the relationships across which data may be released."""

from __future__ import annotations

import click

from escrow.cli.client.invocation import (
    Invocation,
    build,
    client_command,
    listing_options,
    show_list,
)
from escrow.cli.client.models.partnerships import PartnershipCreate, PartnershipOut
from escrow.cli.client.output import fields

COLUMNS = [
    ("id", lambda p: p.id),
    ("orgs", lambda p: p.orgs),
    ("kind", lambda p: p.kind),
    ("status", lambda p: p.status),
    ("created", lambda p: p.created_at),
]


@click.group()
def partnerships() -> None:
    """Partnerships between two organizations (operators create and end them)."""


def _emit(inv: Invocation, partnership: PartnershipOut) -> None:
    inv.out.emit(partnership, lambda: fields(partnership))


@partnerships.command()
@click.argument("org_a")
@click.argument("org_b")
@click.option("--kind", required=True, help="supplier, reseller, technology, research, ...")
@client_command
def create(inv: Invocation, org_a: str, org_b: str, kind: str) -> None:
    """Start a partnership between ORG_A and ORG_B (slugs)."""
    body = build(PartnershipCreate, {"orgs": [org_a, org_b], "kind": kind})
    _emit(inv, inv.client.call("POST", "/v1/partnerships", PartnershipOut, body=body))


@partnerships.command("list")
@listing_options
@client_command
def list_partnerships(inv: Invocation, limit: int, cursor: str | None, every: bool) -> None:
    """Partnerships you may see (operators: all; others: their own)."""
    show_list(
        inv, "/v1/partnerships", PartnershipOut, COLUMNS, limit=limit, cursor=cursor, every=every
    )


@partnerships.command()
@click.argument("partnership_id")
@client_command
def show(inv: Invocation, partnership_id: str) -> None:
    """One partnership."""
    _emit(inv, inv.client.get(f"/v1/partnerships/{partnership_id}", PartnershipOut))


@partnerships.command()
@click.argument("partnership_id")
@client_command
def end(inv: Invocation, partnership_id: str) -> None:
    """End a partnership: pending agreements across it can no longer be released."""
    path = f"/v1/partnerships/{partnership_id}/end"
    _emit(inv, inv.client.call("POST", path, PartnershipOut))
