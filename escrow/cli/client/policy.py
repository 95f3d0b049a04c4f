"""``escrow policy push|list|show|impact|activate|explain``: policy administration via the API.

``escrow policy test`` (offline, ``escrow/cli/policy.py``) runs a bundle's cases locally;
``push`` uploads the same directory as a candidate that the server validates again.
"""

from __future__ import annotations

from pathlib import Path

import click

from escrow.cli.client.exits import usage_error
from escrow.cli.client.invocation import (
    Invocation,
    build,
    client_command,
    listing_options,
    show_list,
)
from escrow.cli.client.models.policy import (
    BundleIn,
    BundleOut,
    BundleSummaryOut,
    ExplainIn,
    ExplainOut,
    ImpactIn,
    ImpactOut,
)
from escrow.cli.client.output import fields, table

BUNDLE_FIELDS = ["id", "sha256", "state", "author", "created_at", "activated_at"]
COLUMNS = [
    ("id", lambda b: b.id),
    ("state", lambda b: b.state),
    ("sha256", lambda b: b.sha256[:16]),
    ("created", lambda b: b.created_at),
    ("activated", lambda b: b.activated_at),
    ("files", lambda b: len(b.files)),
]


def _emit_bundle(inv: Invocation, bundle: BundleOut, headline: str | None = None) -> None:
    def human() -> None:
        if headline:
            click.echo(headline)
        fields(bundle, BUNDLE_FIELDS)
        click.echo(f"files: {', '.join(sorted(bundle.files))}")
        click.echo(f"tests: {', '.join(sorted(bundle.tests)) or '-'}")

    inv.out.emit(bundle, human)


def read_bundle(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``**/*.polar`` under ``root`` by relative path, and ``root/tests/*.yaml`` by name.

    What the server's ``PolicyBundle.from_directory`` reads, without loading the engine.
    """
    files = {
        path.relative_to(root).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(root.rglob("*.polar"))
    }
    tests = {
        path.name: path.read_text(encoding="utf-8")
        for path in sorted((root / "tests").glob("*.yaml"))
    }
    return files, tests


@click.command()
@click.argument(
    "directory",
    default="policies",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@client_command
def push(inv: Invocation, directory: Path) -> None:
    """Upload DIR's *.polar files and tests/*.yaml as a candidate bundle (operators).

    The server stores it only if it loads and passes every case (exit 2 with the
    failures otherwise); then `escrow policy impact ID` and `escrow policy activate ID`.
    """
    files, tests = read_bundle(directory)
    if not files:
        raise usage_error(f"no .polar files under {directory}")
    body = build(BundleIn, {"files": files, "tests": tests})
    bundle = inv.client.call("POST", "/v1/policies", BundleOut, body=body)
    _emit_bundle(inv, bundle, f"Uploaded candidate {bundle.id}")


@click.command("list")
@listing_options
@client_command
def list_bundles(inv: Invocation, limit: int, cursor: str | None, every: bool) -> None:
    """Every bundle, newest first (operators)."""
    show_list(
        inv, "/v1/policies", BundleSummaryOut, COLUMNS, limit=limit, cursor=cursor, every=every
    )


@click.command()
@click.argument("bundle_id", default="active")
@click.option("--files", "with_files", is_flag=True, help="Print the files' text as well.")
@client_command
def show(inv: Invocation, bundle_id: str, with_files: bool) -> None:
    """A bundle (default: the active one) with its files and tests."""
    bundle = inv.client.get(f"/v1/policies/{bundle_id}", BundleOut)
    _emit_bundle(inv, bundle)
    if with_files and not inv.as_json:
        for name, text in sorted(
            {**bundle.files, **{f"tests/{k}": v for k, v in bundle.tests.items()}}.items()
        ):
            click.echo(f"\n# ---- {name}\n{text.rstrip()}")


@click.command()
@click.argument("bundle_id")
@click.option(
    "--limit",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="How many recent audited decisions to replay.",
)
@client_command
def impact(inv: Invocation, bundle_id: str, limit: int) -> None:
    """What would change if BUNDLE_ID were active: decisions that flip, releases that differ."""
    report = inv.client.call(
        "POST",
        f"/v1/policies/{bundle_id}/impact",
        ImpactOut,
        body=build(ImpactIn, {"limit": limit}),
    )

    def human() -> None:
        click.echo(
            f"candidate {report.candidate[:16]} vs active {report.active[:16]}:"
            f" {report.replayed} decisions replayed ({report.skipped} skipped),"
            f" {len(report.flips)} flip; {report.pending_checked} pending agreements checked,"
            f" {len(report.releases)} would change"
        )
        if report.flips:
            table(
                report.flips,
                [
                    ("seq", lambda f: f.seq),
                    ("action", lambda f: f.action),
                    ("resource", lambda f: f"{f.resource['type']}:{f.resource['id']}"),
                    ("actor", lambda f: f.actor),
                    ("active", lambda f: f.active),
                    ("candidate", lambda f: f.candidate),
                ],
            )
        if report.releases:
            table(
                report.releases,
                [
                    ("agreement", lambda r: r.agreement_id),
                    ("active", lambda r: r.active),
                    ("candidate", lambda r: r.candidate),
                    ("candidate blockers", lambda r: r.candidate_blockers),
                ],
            )

    inv.out.emit(report, human)


@click.command()
@click.argument("bundle_id")
@client_command
def activate(inv: Invocation, bundle_id: str) -> None:
    """Make BUNDLE_ID the active policy everywhere (activating an older one rolls back)."""
    bundle = inv.client.call("POST", f"/v1/policies/{bundle_id}/activate", BundleOut)
    _emit_bundle(inv, bundle, f"Activated {bundle.id}")


@click.command()
@click.option("--action", required=True, help="e.g. download, approve, deposit.")
@click.option(
    "--resource",
    required=True,
    metavar="TYPE:ID",
    help="organization:<slug>, dataset:<id>, agreement:<id> or partnership:<id>.",
)
@click.option("--actor", help="A principal id [you].")
@client_command
def explain(inv: Invocation, action: str, resource: str, actor: str | None) -> None:
    """Why the policy allows or denies ACTION on RESOURCE, rule by rule."""
    kind, _, ident = resource.partition(":")
    body = build(
        ExplainIn, {"action": action, "resource": {"type": kind, "id": ident}, "actor": actor}
    )
    answer = inv.client.call("POST", "/v1/authz/explain", ExplainOut, body=body)

    def human() -> None:
        click.echo(
            f"{'ALLOWED' if answer.allowed else 'DENIED'}: {answer.actor} {answer.action}"
            f" {answer.resource['type']}:{answer.resource['id']}"
            f" (policy {answer.policy_version[:16]})"
        )
        for step in answer.path:
            click.echo(f"  {step}")
        if answer.release_blockers:
            click.echo(f"release blockers: {', '.join(answer.release_blockers)}")
        for held in answer.agreements or ():
            waiting = f" blockers: {', '.join(held.blockers)}" if held.blockers else ""
            ended = f" ({held.end_reason})" if held.end_reason else ""
            click.echo(f"agreement {held.id}: {held.state}{ended}{waiting}")

    inv.out.emit(answer, human)


CLIENT_COMMANDS = (push, list_bundles, show, impact, activate, explain)
