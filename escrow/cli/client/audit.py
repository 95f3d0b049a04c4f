"""``escrow audit events|checkpoint``, and fetching exports and the key from a server.

The offline verifiers stay in ``escrow/cli/audit.py``; what is fetched here can be
checked there without trusting the server that served it. ``export`` and ``public-key``
also read the server host's database (``--local``), so they are commands of
``escrow/cli/audit_export.py``, which fetches through this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Any

import click

from escrow.cli.client.api import Client
from escrow.cli.client.exits import CliError, ExitCode
from escrow.cli.client.invocation import Invocation, client_command, listing_options, show_list
from escrow.cli.client.models.audit import AuditEventOut


def _entry(event: AuditEventOut) -> dict[str, Any]:
    try:
        parsed = json.loads(event.entry)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _resource(event: AuditEventOut) -> str:
    resource = _entry(event).get("resource") or {}
    return f"{resource.get('type')}:{resource.get('id')}"


COLUMNS = [
    ("index", lambda e: e.index),
    ("time", lambda e: _entry(e).get("time")),
    ("action", lambda e: _entry(e).get("action")),
    ("outcome", lambda e: _entry(e).get("outcome")),
    ("reason", lambda e: _entry(e).get("reason")),
    ("actor", lambda e: (_entry(e).get("actor") or {}).get("id")),
    ("resource", _resource),
]


@click.command()
@click.option("--org", help="Organization slug (operators: any; others: their own).")
@click.option("--since", help="From this time, inclusive (ISO 8601; UTC if no offset).")
@click.option("--until", help="Before this time (ISO 8601).")
@click.option("--actor", help="Principal id.")
@click.option("--action", help="e.g. dataset.deposit, agreement.release.")
@click.option("--resource-type")
@click.option("--resource-id")
@click.option("--outcome", type=click.Choice(["success", "denied", "failed"]))
@listing_options
@client_command
def events(
    inv: Invocation, limit: int, cursor: str | None, every: bool, **filters: str | None
) -> None:
    """Audit events you may read, in log order (operators: all; auditors, admins: their org)."""
    show_list(
        inv,
        "/v1/audit/events",
        AuditEventOut,
        COLUMNS,
        limit=limit,
        cursor=cursor,
        every=every,
        params=filters,
    )


@click.command()
@click.option(
    "-o", "--output", type=click.File("w", encoding="utf-8"), default="-", help="Default: stdout."
)
@client_command
def checkpoint(inv: Invocation, output: IO[str]) -> None:
    """The current signed checkpoint (keep it to check later ones with verify-checkpoint)."""
    note = inv.client.text("/v1/audit/checkpoint")
    inv.out.emit({"checkpoint": note}, lambda: click.echo(note, file=output, nl=False))


@dataclass(frozen=True)
class Exported:
    events: int
    tree_size: int
    scope: str


def fetch_export(client: Client, org: str | None, sink: IO[bytes]) -> Exported:
    """Stream the export bundle into ``sink`` as it arrives; say what it held."""
    lines, head = 0, b""
    with client.streaming("GET", "/v1/audit/export", params={"org": org}) as response:
        for chunk in response.iter_bytes():
            sink.write(chunk)
            lines += chunk.count(b"\n")  # JSON escapes newlines inside entries
            if b"\n" not in head:
                head += chunk
    sink.flush()
    try:
        header = json.loads(head.split(b"\n", 1)[0])
        return Exported(max(lines - 2, 0), int(header["tree_size"]), str(header["scope"]))
    except (ValueError, KeyError, TypeError):
        raise CliError.local(
            ExitCode.UNEXPECTED, "bad-response", "Unexpected answer", "the export has no header"
        ) from None


def fetch_public_key(client: Client) -> str:
    return client.text("/v1/audit/public-key").strip()


def fetch_public_keys(client: Client) -> str:
    """The public-keys document (every key, with its validity), exactly as served."""
    return client.text("/v1/audit/public-keys")
