"""The overlap part of ``escrow demo``: both partners map their accounts in data escrow."""

from __future__ import annotations

import csv
from typing import Any

from escrow.cli.client.api import Client
from escrow.cli.client.deposit import Deposit, deposit_file
from escrow.cli.client.invocation import build
from escrow.cli.client.models.datasets import DatasetCreate, DatasetOut
from escrow.cli.client.models.overlaps import (
    DisclosuresOut,
    OverlapsOut,
    PartnerSharingOut,
    PopulationCreate,
    PopulationOut,
    RecordsOut,
    SharingIn,
)

CRM_SCHEMA = {
    "fields": [{"name": name, "type": "string"} for name in ("domain", "name", "stage", "owner")]
}
# Two CRM exports as partners keep them: the same accounts spelt differently.
ACCOUNTS = {
    "owner": [
        ["https://www.initech.example/", "Initech", "customer", "ann"],
        ["hooli.example", "Hooli", "customer", "ann"],
        ["sales@umbrella.example", "Umbrella", "customer", "bob"],
        ["stark.example", "Stark", "prospect", "bob"],
    ],
    "partner": [
        ["INITECH.EXAMPLE.", "Initech Corp", "prospect", "zed"],
        ["umbrella.example:443", "Umbrella plc", "prospect", "yan"],
        ["wayne.example", "Wayne", "prospect", "zed"],
        ["hooli.example", "Hooli", "customer", "yan"],
    ],
}


def map_accounts(demo: Any, owner: Client, partner: Client) -> None:
    """Each side deposits its list and a population; the owner reads where they meet."""
    owner_pop = _population(demo, owner, "owner", "customers", "customer", {"level": "counts"})
    partner_pop = _population(
        demo, partner, "partner", "prospects", "prospect", {"level": "counts"}
    )
    them = demo.summary["beneficiary"]
    me = demo.summary["owner"]
    body = build(SharingIn, {"level": "overlaps", "fields": ["name"]})
    path = f"/v1/populations/{partner_pop.id}/sharing/{me}"
    partner.call("PUT", path, PartnerSharingOut, body=body)
    demo.step(
        "Sharing",
        f"{them} lets {me} see its prospects that {me} also holds, with the name field only",
    )
    counts = owner.get("/v1/overlaps", OverlapsOut, {"partner": them})
    cell = next(c for c in counts.cells if c.mine.id == owner_pop.id)
    demo.step(
        "Overlap counts",
        f"{cell.count} of {me}'s {cell.mine.size} customers are {them} prospects"
        f" (level {cell.level})",
    )
    params = {"partner": them, "mine": owner_pop.id, "theirs": partner_pop.id}
    records = owner.get("/v1/overlaps/records", RecordsOut, params)
    shown = "; ".join(f"{r.key} ({r.theirs.get('name')})" for r in records.items)
    demo.step("Overlap records", f"{me} sees {shown}; {them}'s owners never leave the server")
    ledger = partner.get("/v1/overlaps/disclosures", DisclosuresOut, {"partner": me})
    fields = sorted({f for line in ledger.items for f in line.fields})
    demo.step(
        "Disclosure ledger",
        f"{them} sees what {me} was shown of its data: {sum(i.reads for i in ledger.items)}"
        f" reads, fields {', '.join(fields) or 'none'}, each an audit event with a proof",
    )
    demo.summary["overlaps"] = {
        "count": cell.count,
        "keys": [r.key for r in records.items],
        "fields": fields,
    }


def _population(
    demo: Any, client: Client, side: str, name: str, stage: str, sharing: dict[str, Any]
) -> PopulationOut:
    body = {"name": "accounts", "media_type": "text/csv", "labels": ["crm"], "schema": CRM_SCHEMA}
    dataset = client.call("POST", "/v1/datasets", DatasetOut, body=build(DatasetCreate, body))
    path = demo.workdir / f"accounts-{side}-{demo.suffix}.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([["domain", "name", "stage", "owner"], *ACCOUNTS[side]])
    deposit_file(client, Deposit(dataset.id, path), demo.inv.out, demo.show_progress)
    population = build(
        PopulationCreate,
        {
            "name": name,
            "match": {"field": "domain", "normalize": "domain"},
            "where": {"field": "stage", "op": "eq", "value": stage},
            "sharing": sharing,
        },
    )
    created = client.call(
        "POST", f"/v1/datasets/{dataset.id}/populations", PopulationOut, body=population
    )
    demo.step(
        "Account list",
        f"{dataset.owner} deposits its CRM accounts and defines population {name} ({stage} rows)",
    )
    return created
