"""`escrow keys`: key-encryption-key rotation on the server host."""

from __future__ import annotations

import json

import click

from escrow.cli.server_context import server_components
from escrow.errors import EscrowError


@click.group()
def keys() -> None:
    """Key-encryption keys (KEKs) in the keyring."""


@keys.command("init")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def init(path: str) -> None:
    """Create a new keyring file (mode 0600) at PATH without touching any database.

    For deployments that hand the keyring to servers as a secret (Kubernetes): refuses to
    overwrite an existing file.
    """
    from crypto import Keyring, KeyringError

    try:
        keyring = Keyring.create(path)
    except (FileExistsError, KeyringError) as exc:
        raise click.ClickException(f"cannot create {path}: {exc}") from None
    click.echo(f"created {keyring.path} (active KEK {keyring.active_kek_id})")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_keys(as_json: bool) -> None:
    """KEKs with their state and how many dataset versions each wraps."""
    from escrow.keys.service import kek_usage

    with server_components() as components:
        usage = kek_usage(components)
        rows = [
            {"kek_id": k.kek_id, "state": str(k.state), "versions": usage.get(k.kek_id, 0)}
            for k in components.keyring.keks()
        ]
        if as_json:
            click.echo(json.dumps(rows))
            return
        for row in rows:
            click.echo(f"{row['kek_id']}  {row['state']:<14} {row['versions']} versions")


@keys.command("stage")
def stage() -> None:
    """Add a new KEK that unwraps but does not wrap yet; distribute it, then rotate --to it."""
    from escrow.keys.service import stage_kek

    with server_components() as components:
        kek_id = stage_kek(components)
    click.echo(
        f"staged KEK {kek_id}; give every replica this keyring, then: keys rotate --to {kek_id}"
    )


@keys.command("rotate")
@click.option("--to", "to", metavar="KEK_ID", help="Promote this staged KEK instead of a new one.")
def rotate(to: str | None) -> None:
    """Make a new (or the staged) KEK active and re-wrap every DEK under it (data untouched)."""
    from crypto import KeyringError
    from escrow.keys.service import rotate_kek

    try:
        with server_components() as components:
            rotation = rotate_kek(components, to)
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"active KEK {rotation.new_kek_id}; re-wrapped {rotation.rewrapped} data keys")


@keys.command("retire")
@click.argument("kek_id")
def retire(kek_id: str) -> None:
    """Erase an old KEK once no DEK is wrapped under it."""
    from crypto import KeyringError
    from escrow.keys.service import retire_kek

    try:
        with server_components() as components:
            retire_kek(components, kek_id)
    except (EscrowError, KeyringError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"retired {kek_id}")
