"""`escrow storage gc`: reclaim blobs that no live dataset version owns."""

from __future__ import annotations

from datetime import timedelta

import click

from escrow.cli.server_context import server_components


@click.group()
def storage() -> None:
    """Blob storage maintenance."""


@storage.command("gc")
@click.option(
    "--grace",
    default=3600,
    show_default=True,
    type=click.IntRange(min=0),
    help="Leave blobs younger than this many seconds (uploads in flight).",
)
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
def gc(grace: int, dry_run: bool) -> None:
    """Delete orphan blobs: from failed uploads, or left behind by a shred."""
    from escrow.datasets.gc import collect_garbage

    with server_components() as components:
        result = collect_garbage(
            components.db, components.blobs, components.clock, timedelta(seconds=grace), dry_run
        )
    for key in result.orphans:
        click.echo(("would delete " if dry_run else "deleted ") + key)
    click.echo(f"{len(result.orphans)} orphan blobs; {result.temp_files_swept} stale temp files")
