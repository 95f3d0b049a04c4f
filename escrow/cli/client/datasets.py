"""``escrow datasets``: create, list, show, deposit, download, withdraw, shred."""

from __future__ import annotations

import dataclasses
import json
import mimetypes
import re
import sys
from pathlib import Path
from typing import IO, Any

import click
import msgspec

from escrow.cli.client.deposit import Deposit, deposit_file
from escrow.cli.client.download import Fetch, download
from escrow.cli.client.exits import CliError, ExitCode, usage_error
from escrow.cli.client.invocation import (
    Invocation,
    build,
    client_command,
    listing_options,
    show_list,
)
from escrow.cli.client.models.datasets import DatasetCreate, DatasetOut, VersionOut
from escrow.cli.client.output import fields
from escrow.cli.client.progress import progress_option, quiet_option, wanted

DATASET_COLUMNS = [
    ("id", lambda d: d.id),
    ("owner", lambda d: d.owner),
    ("name", lambda d: d.name),
    ("media type", lambda d: d.media_type),
    ("status", lambda d: d.status),
    ("versions", lambda d: d.versions),
]
VERSION_COLUMNS = [
    ("version", lambda v: v.version),
    ("size", lambda v: v.size),
    ("sha256", lambda v: v.sha256),
    ("media type", lambda v: v.media_type),
    ("created", lambda v: v.created_at),
    ("shredded", lambda v: v.shredded),
]
EXTENSIONS = {
    "text/csv": ".csv",
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
    "application/vnd.apache.parquet": ".parquet",
}
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def byte_rate(_ctx: click.Context, _param: click.Parameter, value: str | None) -> int | None:
    """``--limit-rate``: bytes per second as 500k, 2M, 1G or a plain number."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmg]?)i?b?(?:/s)?", value.strip().lower())
    if match is None or float(match.group(1)) <= 0:
        raise click.BadParameter(f"{value!r} is not a rate such as 500k, 2M or 1G (bytes/s)")
    return max(1, int(float(match.group(1)) * _UNITS[match.group(2)]))


@click.group()
def datasets() -> None:
    """Datasets: create them, deposit versions, download what you were granted."""


@datasets.command()
@click.argument("name")
@click.option("--media-type", help="Media type of its versions [application/octet-stream].")
@click.option("--description")
@click.option("--label", "labels", multiple=True, help="A label such as pii (repeat).")
@click.option(
    "--field",
    "columns",
    multiple=True,
    metavar="NAME:TYPE",
    help="A column of the tabular schema (repeat); types string integer number boolean date"
    " timestamp.",
)
@click.option("--schema", "schema_file", type=click.File("r"), help='JSON {"fields": [...]} file.')
@client_command
def create(
    inv: Invocation,
    name: str,
    media_type: str | None,
    description: str | None,
    labels: tuple[str, ...],
    columns: tuple[str, ...],
    schema_file: IO[str] | None,
) -> None:
    """Create a dataset named NAME, owned by your organization (stewards, admins)."""
    document = {
        "name": name,
        "media_type": media_type,
        "description": description,
        "labels": list(labels),
        "schema": _schema(columns, schema_file),
    }
    dataset = inv.client.call(
        "POST", "/v1/datasets", DatasetOut, body=build(DatasetCreate, document)
    )
    inv.out.emit(dataset, lambda: fields(dataset))


def _schema(columns: tuple[str, ...], schema_file: IO[str] | None) -> dict[str, Any] | None:
    if columns and schema_file:
        raise usage_error("give --field or --schema, not both")
    if schema_file is not None:
        try:
            loaded: dict[str, Any] = json.load(schema_file)
        except ValueError as exc:
            raise usage_error(f"--schema is not JSON: {exc}") from None
        return loaded
    if not columns:
        return None
    pairs = [column.partition(":") for column in columns]
    if any(not sep or not name or not kind for name, sep, kind in pairs):
        raise usage_error("--field takes NAME:TYPE, e.g. --field amount:number")
    return {"fields": [{"name": name, "type": kind} for name, _, kind in pairs]}


@datasets.command("list")
@listing_options
@client_command
def list_datasets(inv: Invocation, limit: int, cursor: str | None, every: bool) -> None:
    """Datasets you may see: your organization's, and those released to it."""
    show_list(
        inv, "/v1/datasets", DatasetOut, DATASET_COLUMNS, limit=limit, cursor=cursor, every=every
    )


@datasets.command()
@click.argument("dataset_id")
@client_command
def show(inv: Invocation, dataset_id: str) -> None:
    """A dataset's metadata (never its content)."""
    dataset = inv.client.get(f"/v1/datasets/{dataset_id}", DatasetOut)
    inv.out.emit(dataset, lambda: fields(dataset))


@datasets.command()
@click.argument("dataset_id")
@listing_options
@client_command
def versions(inv: Invocation, dataset_id: str, limit: int, cursor: str | None, every: bool) -> None:
    """A dataset's versions with their size and SHA-256."""
    path = f"/v1/datasets/{dataset_id}/versions"
    show_list(inv, path, VersionOut, VERSION_COLUMNS, limit=limit, cursor=cursor, every=every)


@datasets.command("deposit")
@click.argument("dataset_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--media-type", help="Content-Type of this version [the dataset's].")
@click.option(
    "--idempotency-key",
    help="Reuse to make a retried run store nothing twice [a new key per run].",
)
@progress_option
@quiet_option
@client_command
def deposit_command(
    inv: Invocation,
    dataset_id: str,
    file: Path,
    media_type: str | None,
    idempotency_key: str | None,
    progress: bool | None,
    quiet: bool,
) -> None:
    """Deposit FILE as a new version (streamed; its SHA-256 is checked by the server)."""
    inv.out.quiet = quiet
    show_bar = wanted(progress, quiet, inv.as_json)
    result = deposit_file(
        inv.client, Deposit(dataset_id, file, media_type, idempotency_key), inv.out, show_bar
    )
    version = result.version
    document = {
        **msgspec.to_builtins(version),
        "replayed": result.replayed,
        "idempotency_key": result.idempotency_key,
    }
    receipt = version.receipt or {}  # a depositor always sees its own receipt
    again = " (an earlier deposit with this Idempotency-Key)" if result.replayed else ""
    inv.out.emit(
        document,
        f"Deposited version {version.version} of {dataset_id}{again}: {version.size} bytes,"
        f" sha256 {version.sha256}\nreceipt signed by key {receipt.get('key_id')},"
        f" audit index {receipt.get('audit_index')}",
    )


@datasets.command("download")
@click.argument("dataset_id")
@click.option("--version", "number", type=click.IntRange(min=1), help="[the latest]")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write it [<name>-v<N>.<ext> here].",
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option(
    "--limit-rate", callback=byte_rate, metavar="RATE", help="At most RATE bytes/s (500k, 2M)."
)
@progress_option
@quiet_option
@client_command
def download_command(
    inv: Invocation,
    dataset_id: str,
    number: int | None,
    output: Path | None,
    force: bool,
    limit_rate: int | None,
    progress: bool | None,
    quiet: bool,
) -> None:
    """Download a version: the original if you own it, else the view your agreement grants.

    Bytes go to OUTPUT.part first; if the run is interrupted, the same command continues
    where it stopped. The original's SHA-256 is checked before OUTPUT is written.
    """
    if number is None or output is None:
        dataset = inv.client.get(f"/v1/datasets/{dataset_id}", DatasetOut)
        number = number or dataset.versions
        if number == 0:
            raise CliError.local(
                ExitCode.NOT_FOUND, "not-found", "No such resource", "the dataset has no versions"
            )
        output = output or Path(_file_name(dataset, number))
    if output.exists() and not force:
        raise usage_error(f"{output} exists: pass --force to replace it")
    inv.out.quiet = quiet
    show_bar = wanted(progress, quiet, inv.as_json)
    result = download(inv.client, Fetch(dataset_id, number, output, limit_rate), inv.out, show_bar)
    if result.resumed_from:
        inv.out.note(f"resumed at byte {result.resumed_from}")
    what = "view granted by your agreement" if result.view else "original"
    check = "SHA-256 verified" if result.verified else "no digest to check for a view"
    inv.out.emit(
        {**dataclasses.asdict(result), "path": str(result.path)},
        f"Downloaded version {result.version} ({what}) to {result.path}: {result.size} bytes,"
        f" sha256 {result.sha256} ({check})",
    )


def _file_name(dataset: DatasetOut, number: int) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", dataset.name).strip(".-") or dataset.id
    extension = EXTENSIONS.get(dataset.media_type) or mimetypes.guess_extension(dataset.media_type)
    return f"{stem}-v{number}{extension or ''}"


@datasets.command()
@click.argument("dataset_id")
@client_command
def withdraw(inv: Invocation, dataset_id: str) -> None:
    """No new versions, agreements or partner access; your organization keeps its copy."""
    dataset = inv.client.call("POST", f"/v1/datasets/{dataset_id}/withdraw", DatasetOut)
    inv.out.emit(dataset, f"Withdrew {dataset.id} ({dataset.name}): status {dataset.status}")


@datasets.command()
@click.argument("dataset_id")
@click.option("--yes", is_flag=True, help="Do not ask: shredding cannot be undone.")
@client_command
def shred(inv: Invocation, dataset_id: str, yes: bool) -> None:
    """Destroy every version's key and blob (admins). Irreversible."""
    if not yes:
        if not sys.stdin.isatty():
            raise usage_error("shredding destroys the data for good: pass --yes")
        click.confirm(f"Shred {dataset_id}? Its content cannot be recovered", abort=True, err=True)
    dataset = inv.client.call("DELETE", f"/v1/datasets/{dataset_id}", DatasetOut)
    inv.out.emit(dataset, f"Shredded {dataset.id} ({dataset.name}): status {dataset.status}")
