"""``escrow audit``: export the signed trail, and verify bundles and checkpoints offline.

``verify`` and ``verify-checkpoint`` need no server and no database (crypto and
``escrow.audit.bundle`` only), so this module imports nothing else. ``events`` and
``checkpoint`` call the API and live in ``escrow/cli/client/audit.py``; ``export`` and
``public-key`` (the API, or the database with ``--local``) in ``escrow/cli/audit_export.py``;
``escrow.cli.main`` adds them to this group.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

import click

from crypto import CryptoError, NoteVerifier
from escrow.audit.bundle import (
    BundleError,
    b64,
    open_checkpoint,
    verify_bundle,
    verify_checkpoint_consistency,
)
from escrow.audit.verifier_keys import read_verifier_keys


@click.group()
def audit() -> None:
    """The signed audit trail: export it, verify it offline."""


def _verifier(key: str) -> list[NoteVerifier]:
    """A verifier key string (``name+keyid+base64``), or a file holding one or the
    public-keys document (every key the log was signed with, across rotations)."""
    path = Path(key)
    text = path.read_text(encoding="utf-8") if "+" not in key and path.is_file() else key
    try:
        verifiers = read_verifier_keys(text).note_verifiers
    except CryptoError as exc:
        raise click.BadParameter(
            f"not a C2SP verifier key or public-keys document ({exc})", param_hint="--public-key"
        ) from None
    if not verifiers:
        raise click.BadParameter(
            "a PEM key does not name the log: give its C2SP verifier key or public-keys document",
            param_hint="--public-key",
        )
    return verifiers


def _fail(exc: BundleError) -> None:
    click.echo(f"FAILED {exc}", err=True)
    sys.exit(1)


PUBLIC_KEY_HELP = (
    "C2SP verifier key (GET /v1/audit/public-key), or a file holding it or the public-keys"
    " document (GET /v1/audit/public-keys: every key, for logs signed across key rotations)."
)


@audit.command()
@click.argument("bundle", type=click.File("rb"))
@click.option("--public-key", "key", required=True, help=PUBLIC_KEY_HELP)
def verify(bundle: IO[bytes], key: str) -> None:
    """Check an export offline: every entry, proof, the root and the signature.

    Exits 0 only if all of it verifies; otherwise prints the first bad entry and exits 1.
    """
    verifier = _verifier(key)
    try:
        report = verify_bundle(bundle, verifier)
    except BundleError as exc:
        _fail(exc)
        return
    scope = "every entry" if report.scope == "full" else f"the entries of org {report.org}"
    click.echo(
        f"OK {report.events} entries verified ({scope}) against the checkpoint of"
        f" {report.origin} at size {report.tree_size}, root {b64(report.root_hash)}"
    )


@audit.command("verify-checkpoint")
@click.argument("old", type=click.File("r", encoding="utf-8"))
@click.argument("new", type=click.File("r", encoding="utf-8"))
@click.option("--public-key", "key", required=True, help=PUBLIC_KEY_HELP)
@click.option(
    "--proof",
    type=click.File("r", encoding="utf-8"),
    help="The JSON of GET /v1/audit/proofs/consistency?from=OLD&to=NEW.",
)
@click.option("--server", help="Fetch the proof from this API base URL instead.")
@click.option("--token", envvar="ESCROW_TOKEN", help="Access token for --server [ESCROW_TOKEN].")
def verify_checkpoint(
    old: IO[str],
    new: IO[str],
    key: str,
    proof: IO[str] | None,
    server: str | None,
    token: str | None,
) -> None:
    """Check that checkpoint NEW extends checkpoint OLD (both signed, the old tree a prefix)."""
    verifier = _verifier(key)
    try:
        before = open_checkpoint(old.read(), verifier, "old checkpoint")
        after = open_checkpoint(new.read(), verifier, "new checkpoint")
        hashes: list[str] = []  # none needed from an empty tree or between equal sizes
        if 0 < before.size < after.size:
            document = _proof_document(proof, server, token, before.size, after.size)
            hashes = _proof_hashes(document, before.size, after.size)
        verify_checkpoint_consistency(before, after, hashes)
    except BundleError as exc:
        _fail(exc)
        return
    click.echo(f"OK checkpoint {after.size} extends checkpoint {before.size} of {after.origin}")


def _proof_document(
    proof: IO[str] | None, server: str | None, token: str | None, size1: int, size2: int
) -> Any:
    if proof is not None:
        try:
            return json.load(proof)
        except ValueError:
            raise BundleError("consistency proof", "is not JSON") from None
    if server is None:
        raise click.UsageError("the checkpoints differ in size: give --proof or --server")
    import httpx  # only here: verifying from files needs no HTTP client

    try:
        response = httpx.get(
            f"{server.rstrip('/')}/v1/audit/proofs/consistency",
            params={"from": size1, "to": size2},
            headers={"Authorization": f"Bearer {token}"} if token else {},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot fetch the proof from {server}: {exc}") from None
    if response.status_code != 200:
        raise click.ClickException(f"{server} answered {response.status_code}: {response.text}")
    return response.json()


def _proof_hashes(document: Any, size1: int, size2: int) -> list[str]:
    if not isinstance(document, dict) or (document.get("from"), document.get("to")) != (
        size1,
        size2,
    ):
        raise BundleError("consistency proof", f"is not the proof from {size1} to {size2}")
    hashes = document.get("proof")
    if not isinstance(hashes, list):
        raise BundleError("consistency proof", "has no list of hashes")
    return hashes
