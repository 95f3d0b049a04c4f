"""``escrow audit export|public-key [--all]``: from the API, or with ``--local`` from the server
host.

The API half is the client's (``escrow.cli.client.audit``); ``--local`` reads the database
with the server's settings, which the client package never loads.
"""

from __future__ import annotations

from typing import IO

import click

from escrow.cli.client.audit import Exported, fetch_export, fetch_public_key, fetch_public_keys
from escrow.cli.client.exits import usage_error
from escrow.cli.client.invocation import Invocation, client_command

LOCAL_HELP = "On the server host: read the database with the server's settings, not the API."


@click.command()
@click.option("--org", help="Only the events touching this organization (slug), with proofs.")
@click.option("-o", "--output", type=click.File("wb"), default="-", help="Default: stdout.")
@click.option("--local", is_flag=True, help=LOCAL_HELP)
@client_command
def export(inv: Invocation, org: str | None, output: IO[bytes], local: bool) -> None:
    """Write a bundle for `escrow audit verify` (operators: every event; auditors and
    admins: their organization's)."""
    if inv.as_json and output.name == "<stdout>":
        raise usage_error("--json prints a summary on stdout: write the bundle with -o FILE")
    exported = _export_local(org, output) if local else fetch_export(inv.client, org, output)
    inv.out.emit(
        {"events": exported.events, "tree_size": exported.tree_size, "scope": exported.scope},
        lambda: click.echo(
            f"exported {exported.events} events under the checkpoint at size {exported.tree_size}",
            err=True,
        ),
    )


def _export_local(org: str | None, output: IO[bytes]) -> Exported:
    from escrow.audit.export import ExportPlan
    from escrow.cli.server_context import server_components
    from escrow.errors import NotFoundError
    from escrow.orgs.queries import find_org

    with server_components() as components:
        trail = components.trail
        with components.db.session() as session:
            try:
                org_id = find_org(session, org).id if org else None
            except NotFoundError as exc:
                raise click.ClickException(str(exc)) from None
            trail.catch_up(session)  # every event committed so far, queued ones included
            signed = trail.checkpoints.current(session)
        lines = 0
        for chunk in trail.bundle(ExportPlan(trail.checkpoints.origin, signed, org_id)):
            output.write(chunk)
            lines += chunk.count(b"\n")  # JSON escapes newlines inside entries
        output.flush()
    return Exported(lines - 2, signed.size, "org" if org_id else "full")


@click.command("public-key")
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="The public-keys document instead: every signing key with its validity (JSON),"
    " for verifying what was signed before a key rotation.",
)
@click.option("--local", is_flag=True, help=LOCAL_HELP)
@client_command
def public_key(inv: Invocation, every: bool, local: bool) -> None:
    """Print the C2SP verifier key of the server's checkpoints (GET /v1/audit/public-key),
    or with --all every key (GET /v1/audit/public-keys)."""
    if every:
        document = _public_keys_local() if local else fetch_public_keys(inv.client)
        click.echo(document.strip())
        return
    if local:
        from escrow.cli.server_context import server_components

        with server_components() as components:
            key = components.trail.checkpoints.public_key
    else:
        key = fetch_public_key(inv.client)
    inv.out.emit({"public_key": key}, key)


def _public_keys_local() -> str:
    import msgspec

    from escrow.auditing.schemas import PublicKeysOut
    from escrow.cli.server_context import server_components

    with server_components() as components:
        checkpoints = components.trail.checkpoints
        document = PublicKeysOut.of(checkpoints.origin, checkpoints.published_keys())
    return msgspec.json.encode(document).decode()
