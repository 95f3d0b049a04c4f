"""What a client command prints: one JSON document under ``--json``, else text for people.

JSON goes to stdout and nothing else does, so ``escrow ... --json | jq`` always parses;
notes for people go to stderr and are left out under ``--json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import click
import msgspec


def shown(value: Any) -> str:
    """One value as a person reads it in a table or a ``name: value`` line."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(shown(v) for v in value) or "-"
    if isinstance(value, dict | msgspec.Struct):
        return json.dumps(msgspec.to_builtins(value), sort_keys=True)
    return str(value)


class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.quiet = False  # --quiet: no notes either

    def emit(self, document: Any, human: Callable[[], None] | str) -> None:
        """``document`` (Structs, lists, dicts) as JSON, or the ``human`` rendering."""
        if self.as_json:
            click.echo(msgspec.json.encode(document).decode())
        elif isinstance(human, str):
            click.echo(human)
        else:
            human()

    def note(self, message: str) -> None:
        if not (self.as_json or self.quiet):
            click.echo(message, err=True)


def fields(record: msgspec.Struct | dict[str, Any], names: Sequence[str] | None = None) -> None:
    """``name: value`` lines, in the record's own field order unless ``names`` are given."""
    values = (
        record
        if isinstance(record, dict)
        else {name: getattr(record, name) for name in record.__struct_fields__}
    )
    for name in names or list(values):
        click.echo(f"{name}: {shown(values.get(name))}")


def table(rows: Sequence[Any], columns: Sequence[tuple[str, Callable[[Any], Any]]]) -> None:
    """Left-aligned columns under a header; ``(none)`` for an empty list."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[header for header, _ in columns]]
    cells += [[shown(get(row)) for _, get in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


def page_footer(next_cursor: str | None) -> None:
    if next_cursor:
        click.echo(f"(more: --cursor {next_cursor}, or --all)", err=True)
