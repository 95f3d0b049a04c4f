"""Transfer progress on stderr: bytes so far and in all, rate and time left (rich)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

Advance = Callable[[int], None]

progress_option = click.option(
    "--progress/--no-progress",
    "progress",
    default=None,
    help="Progress bar on stderr [default: when stderr is a terminal, and not with --json].",
)
quiet_option = click.option(
    "-q", "--quiet", is_flag=True, help="No progress bar and no notes on stderr."
)


def wanted(progress: bool | None, quiet: bool, as_json: bool) -> bool:
    if quiet:
        return False
    if progress is not None:
        return progress
    return not as_json and sys.stderr.isatty()


@contextmanager
def transfer_bar(
    description: str, total: int | None, enabled: bool, done: int = 0
) -> Iterator[Advance]:
    """Yields ``advance(n)``; on a non-terminal a forced bar prints its final state once."""
    if not enabled:
        yield lambda _n: None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    with progress:
        task = progress.add_task(description, total=total, completed=done)
        yield lambda n: progress.advance(task, n)
