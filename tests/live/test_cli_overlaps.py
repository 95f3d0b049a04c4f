"""`escrow populations` and `escrow overlaps` against a real server: the README walkthrough."""

from __future__ import annotations

import json
import secrets

from tests.live.test_cli_client import World, world

__all__ = ["world"]  # the module's fixture, shared with the client tests

SCHEMA = {"fields": [{"name": n, "type": "string"} for n in ("domain", "name", "stage")]}
MINE = "domain,name,stage\nhttps://www.alpha.com,Alpha,customer\nbeta.io,Beta,prospect\n"
THEIRS = "domain,name,stage\nALPHA.COM.,Alpha Inc,customer\ngamma.org,Gamma,customer\n"


def _dataset(world: World, profile: str, content: str) -> str:
    schema = world.cli.config.parent / f"schema-{secrets.token_hex(3)}.json"
    schema.write_text(json.dumps(SCHEMA))
    created = world.cli.json(
        "datasets",
        "create",
        f"crm-{secrets.token_hex(3)}",
        "--media-type",
        "text/csv",
        "--schema",
        str(schema),
        "--profile",
        profile,
    )
    path = world.cli.config.parent / f"{created['id']}.csv"
    path.write_text(content)
    deposited = world.cli.invoke(
        "datasets", "deposit", created["id"], str(path), "--profile", profile
    )
    assert deposited.exit_code == 0, deposited.stderr
    return str(created["id"])


def test_account_mapping_from_the_command_line(world: World) -> None:
    cli = world.cli
    mine_ds = _dataset(world, "owner", MINE)
    theirs_ds = _dataset(world, "partner", THEIRS)
    mine = cli.json(
        "populations",
        "create",
        mine_ds,
        "customers",
        "--match",
        "domain",
        "--where",
        '{"field": "stage", "op": "eq", "value": "customer"}',
        "--profile",
        "owner",
    )
    theirs = cli.json(
        "populations",
        "create",
        theirs_ds,
        "customers",
        "--match",
        "domain",
        "--level",
        "overlaps",
        "--fields",
        "name",
        "--profile",
        "partner",
    )
    counts = cli.json("overlaps", "counts", world.partner, "--profile", "owner")
    assert [(c["mine"]["name"], c["theirs"]["name"], c["count"]) for c in counts["cells"]] == [
        ("customers", "customers", 1)
    ]
    table = cli.invoke("overlaps", "counts", world.partner, "--profile", "owner")
    assert table.exit_code == 0 and "customers" in table.stdout and "overlap" in table.stdout
    records = cli.json(
        "overlaps",
        "records",
        world.partner,
        "--mine",
        mine["id"],
        "--theirs",
        theirs["id"],
        "--profile",
        "owner",
    )
    assert records["items"] == [
        {
            "key": "alpha.com",
            "mine": {"domain": "https://www.alpha.com", "name": "Alpha", "stage": "customer"},
            "theirs": {"name": "Alpha Inc"},
        }
    ]
    refused = cli.invoke(
        "overlaps", "greenfield", world.partner, "--theirs", theirs["id"], "--profile", "owner"
    )
    assert refused.exit_code != 0 and "all" in refused.stderr
    shared = cli.json(
        "populations", "share", mine["id"], world.partner, "--level", "counts", "--profile", "owner"
    )
    assert shared == {"partner": world.partner, "level": "counts", "fields": []}
    ledger = cli.json("overlaps", "disclosures", world.owner, "--profile", "partner")
    assert ledger["items"][0]["fields"] == ["name"] and ledger["items"][0]["records"] == 1
