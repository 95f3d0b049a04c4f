"""``escrow populations`` and ``escrow overlaps``: account mapping with partners (section 11)."""

from __future__ import annotations

import json
from typing import Any

import click

from escrow.cli.client.exits import usage_error
from escrow.cli.client.invocation import (
    Invocation,
    build,
    client_command,
    listing_options,
    show_list,
)
from escrow.cli.client.models.overlaps import (
    DisclosuresOut,
    GreenfieldOut,
    OverlapsOut,
    PartnerSharingOut,
    PopulationCreate,
    PopulationOut,
    RecordsOut,
    SharingIn,
)
from escrow.cli.client.output import fields, page_footer, table

POPULATION_COLUMNS = [
    ("id", lambda p: p.id),
    ("name", lambda p: p.name),
    ("dataset", lambda p: p.dataset_id),
    ("match", lambda p: f"{p.match.field} ({p.match.normalize})"),
    ("default", lambda p: p.sharing.level),
    ("overrides", lambda p: [f"{o.partner}={o.level}" for o in p.overrides]),
]
CELL_COLUMNS = [
    ("mine", lambda c: c.mine.name),
    ("size", lambda c: c.mine.size),
    ("theirs", lambda c: c.theirs.name),
    ("level", lambda c: c.level),
    ("overlap", lambda c: c.count),
    ("mine id", lambda c: c.mine.id),
    ("theirs id", lambda c: c.theirs.id),
]
LEVEL = click.Choice(["hidden", "counts", "overlaps", "all"])


def _field_list(value: str | None) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()] if value else []


def _where(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        where = json.loads(value)
    except json.JSONDecodeError as exc:
        raise usage_error(f"--where is not JSON: {exc}") from None
    if not isinstance(where, dict):
        raise usage_error('--where is a JSON object: {"field", "op", "value"} or {"all": [...]}')
    return where


@click.group()
def populations() -> None:
    """Named segments of your tabular datasets, and how much each partner may see of them."""


@populations.command()
@click.argument("dataset_id")
@click.argument("name")
@click.option("--match", "match_field", required=True, help="The field holding the match key.")
@click.option(
    "--normalize",
    type=click.Choice(["domain", "email", "text"]),
    default="domain",
    show_default=True,
)
@click.option(
    "--where", help='Row predicate as JSON, e.g. {"field":"stage","op":"eq","value":"customer"}.'
)
@click.option(
    "--level",
    type=LEVEL,
    default="hidden",
    show_default=True,
    help="Default level toward every partner.",
)
@click.option("--fields", help="Comma-separated fields revealed at overlaps and all.")
@client_command
def create(
    inv: Invocation,
    dataset_id: str,
    name: str,
    match_field: str,
    normalize: str,
    where: str | None,
    level: str,
    fields: str | None,
) -> None:
    """Define population NAME of DATASET_ID."""
    body = build(
        PopulationCreate,
        {
            "name": name,
            "match": {"field": match_field, "normalize": normalize},
            "where": _where(where),
            "sharing": {"level": level, "fields": _field_list(fields)},
        },
    )
    path = f"/v1/datasets/{dataset_id}/populations"
    _emit(inv, inv.client.call("POST", path, PopulationOut, body=body))


def _emit(inv: Invocation, population: PopulationOut) -> None:
    inv.out.emit(population, lambda: _show(population))


def _show(population: PopulationOut) -> None:
    fields(population, ["id", "name", "dataset_id", "match", "where", "sharing"])
    for override in population.overrides:
        click.echo(f"toward {override.partner}: {override.level} {', '.join(override.fields)}")


@populations.command("list")
@click.option("--dataset", "dataset_id", help="Only this dataset's populations.")
@listing_options
@client_command
def list_populations(
    inv: Invocation, dataset_id: str | None, limit: int, cursor: str | None, every: bool
) -> None:
    """Your organization's populations."""
    path = f"/v1/datasets/{dataset_id}/populations" if dataset_id else "/v1/populations"
    show_list(inv, path, PopulationOut, POPULATION_COLUMNS, limit=limit, cursor=cursor, every=every)


@populations.command()
@click.argument("population_id")
@client_command
def show(inv: Invocation, population_id: str) -> None:
    """One population with its per-partner levels."""
    _emit(inv, inv.client.get(f"/v1/populations/{population_id}", PopulationOut))


@populations.command()
@click.argument("population_id")
@client_command
def delete(inv: Invocation, population_id: str) -> None:
    """Delete a population (its partners stop seeing it at once)."""
    inv.client.send("DELETE", f"/v1/populations/{population_id}")
    inv.out.emit({"deleted": population_id}, f"deleted {population_id}")


@populations.command()
@click.argument("population_id")
@click.argument("partner")
@click.option("--level", type=LEVEL, required=True)
@click.option("--fields", help="Comma-separated fields revealed at overlaps and all.")
@client_command
def share(
    inv: Invocation, population_id: str, partner: str, level: str, fields: str | None
) -> None:
    """Set what PARTNER (a slug) may see of the population."""
    body = build(SharingIn, {"level": level, "fields": _field_list(fields)})
    path = f"/v1/populations/{population_id}/sharing/{partner}"
    result = inv.client.call("PUT", path, PartnerSharingOut, body=body)
    inv.out.emit(result, f"{result.partner}: {result.level} {', '.join(result.fields)}".strip())


@populations.command()
@click.argument("population_id")
@click.argument("partner")
@client_command
def unshare(inv: Invocation, population_id: str, partner: str) -> None:
    """Back to the population's default level toward PARTNER."""
    inv.client.send("DELETE", f"/v1/populations/{population_id}/sharing/{partner}")
    inv.out.emit({"partner": partner, "level": "default"}, f"{partner}: back to the default")


@click.group()
def overlaps() -> None:
    """Where your lists meet a partner's, to the degree each side allows."""


@overlaps.command()
@click.argument("partner")
@client_command
def counts(inv: Invocation, partner: str) -> None:
    """Overlap counts with PARTNER for every pair of populations you may see."""
    result = inv.client.get("/v1/overlaps", OverlapsOut, {"partner": partner})
    inv.out.emit(result, lambda: table(result.cells, CELL_COLUMNS))


@overlaps.command()
@click.argument("partner")
@click.option("--mine", required=True, help="Your population id.")
@click.option("--theirs", required=True, help="The partner's population id.")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True)
@click.option("--cursor", help="The next_cursor of the previous page.")
@client_command
def records(
    inv: Invocation, partner: str, mine: str, theirs: str, limit: int, cursor: str | None
) -> None:
    """The overlapping accounts: the key, your row, and the partner's granted fields."""
    params = {"partner": partner, "mine": mine, "theirs": theirs, "limit": limit, "cursor": cursor}
    page = inv.client.get("/v1/overlaps/records", RecordsOut, params)

    def human() -> None:
        table(page.items, [("key", lambda r: r.key), ("theirs", lambda r: r.theirs)])
        page_footer(page.next_cursor)

    inv.out.emit(page, human)


@overlaps.command()
@click.argument("partner")
@click.option("--theirs", required=True, help="The partner's population id.")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True)
@click.option("--cursor", help="The next_cursor of the previous page.")
@client_command
def greenfield(inv: Invocation, partner: str, theirs: str, limit: int, cursor: str | None) -> None:
    """The partner's accounts in none of your populations (level all only)."""
    params = {"partner": partner, "theirs": theirs, "limit": limit, "cursor": cursor}
    page = inv.client.get("/v1/overlaps/greenfield", GreenfieldOut, params)

    def human() -> None:
        table(page.items, [("theirs", lambda r: r.theirs)])
        page_footer(page.next_cursor)

    inv.out.emit(page, human)


@overlaps.command()
@click.argument("partner")
@click.option("--period", type=click.Choice(["day", "month"]), default="day", show_default=True)
@client_command
def disclosures(inv: Invocation, partner: str, period: str) -> None:
    """What PARTNER has been shown of your data, per population and period."""
    result = inv.client.get(
        "/v1/overlaps/disclosures", DisclosuresOut, {"partner": partner, "period": period}
    )
    columns = [
        ("period", lambda d: d.period),
        ("population", lambda d: d.population.name),
        ("reads", lambda d: d.reads),
        ("counts", lambda d: d.counts),
        ("records", lambda d: d.records),
        ("fields", lambda d: d.fields),
        ("audit events", lambda d: d.events),
    ]
    inv.out.emit(result, lambda: table(result.items, columns))
