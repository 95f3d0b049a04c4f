"""`escrow receipt verify`: check a signed deposit or release receipt offline."""

from __future__ import annotations

import json
from pathlib import Path

import click

from crypto import CryptoError, verify_document_among
from escrow.audit.verifier_keys import read_verifier_keys


@click.group()
def receipt() -> None:
    """Signed receipts."""


@receipt.command("verify")
@click.argument("receipt_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--public-key",
    "key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=(
        "The service signing key: PEM (GET /v1/keys/signing), a C2SP verifier key, or the"
        " public-keys document (GET /v1/audit/public-keys: every key, across rotations)."
    ),
)
def verify(receipt_file: Path, key_file: Path) -> None:
    """Exit 0 only if RECEIPT_FILE was signed by the key (or the published key it names),
    unchanged; no server needed."""
    try:
        document = json.loads(receipt_file.read_text(encoding="utf-8"))
        keys = read_verifier_keys(key_file.read_text(encoding="utf-8"))
        signed = verify_document_among(document, keys.public_keys)
    except (ValueError, CryptoError) as exc:
        raise click.ClickException(f"receipt does NOT verify: {exc}") from None
    click.echo("receipt verifies: signature by key " + str(signed.get("key_id")))
    for field in ("type", "dataset_id", "version", "size", "sha256", "time", "audit_index"):
        if field in signed:
            click.echo(f"  {field}: {signed[field]}")
