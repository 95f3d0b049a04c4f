"""`escrow keys`: rotation of KEKs and (`escrow keys signing`) signing keys on the server host."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, cast

import click

from escrow.cli.server_context import server_components, server_settings
from escrow.errors import EscrowError

if TYPE_CHECKING:
    from crypto import SigningKeyKind
    from escrow.components import Components
    from escrow.keys.service import KekRotation
    from escrow.keys.signing import SigningKeyRotation


@click.group()
def keys() -> None:
    """Key-encryption keys (KEKs) in the keyring file or the PKCS#11 token
    (ESCROW_KEY_MANAGER), and the signing keys in the keyring file."""


@keys.command("init")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def init(path: str) -> None:
    """Create a new keyring file (mode 0600) at PATH without touching any database.

    For deployments that hand the keyring to servers as a secret (Kubernetes): refuses to
    overwrite an existing file. With ESCROW_KEY_MANAGER=pkcs11 the file still holds the
    signing and MAC keys, while the KEKs are generated in the token on first start.
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
        usage = kek_usage(components.db)
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
    with server_components() as components:
        kek_id = _kek_rotation(components).stage()
        token = components.settings.key_manager.pkcs11
    if token is None:
        click.echo(
            f"staged KEK {kek_id}; give every replica this keyring, then: keys rotate --to {kek_id}"
        )
    else:
        click.echo(
            f"staged KEK {kek_id} in token {token.token_label!r}, which every replica reads;"
            f" then: keys rotate --to {kek_id}"
        )


@keys.command("rotate")
@click.option("--to", "to", metavar="KEK_ID", help="Promote this staged KEK instead of a new one.")
def rotate(to: str | None) -> None:
    """Make a new (or the staged) KEK active and re-wrap every DEK under it (data untouched)."""
    from crypto import KeyringError

    try:
        with server_components() as components:
            rotation = _kek_rotation(components).rotate(to)
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"active KEK {rotation.new_kek_id}; re-wrapped {rotation.rewrapped} data keys")


@keys.command("retire")
@click.argument("kek_id")
def retire(kek_id: str) -> None:
    """Erase an old KEK once no DEK is wrapped under it."""
    from crypto import KeyringError

    try:
        with server_components() as components:
            _kek_rotation(components).retire(kek_id)
    except (EscrowError, KeyringError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"retired {kek_id}")


KIND = click.Choice(["receipt", "token"])
KIND_HELP = "receipt: signs receipts and audit checkpoints; token: signs access tokens."


@keys.group()
def signing() -> None:
    """Receipt/checkpoint and token signing keys: stage, distribute, promote, retire.

    Like KEKs: a staged key is published (JWKS, GET /v1/audit/public-keys) but signs
    nothing; give every replica the keyring, then promote it; the old key stays published
    until retired. A retired receipt key stays published, so old receipts still verify.
    """


# A key id is a base64url JWK thumbprint, which may begin with "-": not an option here.
KEY_ID_ARGUMENT = {"ignore_unknown_options": True}


@signing.command("list")
@click.argument("kind", type=KIND, required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_signing(kind: str | None, as_json: bool) -> None:
    """Signing keys (of KIND, or both kinds) with their state and validity, oldest first."""
    from crypto import Keyring, KeyringError

    try:
        keyring = Keyring.load(server_settings().keyring_path)
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from None
    rows = [
        {
            "kind": info.kind,
            "key_id": info.key_id,
            "state": info.state,
            "valid_from": _iso(info.activated_at),
            "valid_until": _iso(info.deactivated_at),
            "retired_at": _iso(info.retired_at),
        }
        for each in ([kind] if kind else ["receipt", "token"])
        for info in keyring.signing_keys(_kind(each))
    ]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for row in rows:
        validity = f"{row['valid_from'] or '-'} .. {row['valid_until'] or '-'}"
        click.echo(f"{row['kind']:<8} {row['key_id']}  {row['state']:<12} {validity}")


@signing.command("stage")
@click.argument("kind", type=KIND)
def stage_signing(kind: str) -> None:
    """Add a KIND key that is published but signs nothing yet; audited."""
    with server_components() as components:
        key_id = _signing_key_rotation(components).stage(_kind(kind))
    click.echo(
        f"staged {kind} key {key_id}; give every replica this keyring, then:"
        f" keys signing promote {kind} {key_id}"
    )


@signing.command("promote", context_settings=KEY_ID_ARGUMENT)
@click.argument("kind", type=KIND)
@click.argument("key_id")
def promote_signing(kind: str, key_id: str) -> None:
    """Make the staged KIND key KEY_ID sign; the old one stays published (verify-only)."""
    from crypto import KeyringError

    try:
        with server_components() as components:
            previous = _signing_key_rotation(components).promote(_kind(kind), key_id)
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"active {kind} key {key_id}; {previous} is verify-only until: keys signing retire"
        f" {kind} {previous}"
    )


@signing.command("retire", context_settings=KEY_ID_ARGUMENT)
@click.argument("kind", type=KIND)
@click.argument("key_id")
def retire_signing(kind: str, key_id: str) -> None:
    """Erase the seed of a KIND key that no longer signs (after every replica promoted).

    A retired token key verifies no more tokens; a retired receipt key's public half stays
    published with its validity, so what it signed still verifies.
    """
    from crypto import KeyringError

    try:
        with server_components() as components:
            _signing_key_rotation(components).retire(_kind(kind), key_id)
    except KeyringError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"retired {kind} key {key_id}")


def _kek_rotation(components: Components) -> KekRotation:
    from escrow.keys.service import KekRotation

    return KekRotation(components.db, components.keyring, components.audit)


def _signing_key_rotation(components: Components) -> SigningKeyRotation:
    from escrow.keys.signing import SigningKeyRotation

    return SigningKeyRotation(components.db, components.keyring, components.audit, components.clock)


def _kind(kind: str) -> SigningKeyKind:
    return cast("SigningKeyKind", kind)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
