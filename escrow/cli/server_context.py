"""Settings and components for commands that run on the server host."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from escrow.config import Settings, load_settings
from escrow.errors import ConfigError
from escrow.wiring import Components


def server_settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


@contextmanager
def server_components() -> Iterator[Components]:
    """The server's components, as `escrow serve` builds them; refuses an old schema."""
    from escrow.app import build_components

    components = build_components(server_settings())
    try:
        if not components.db.schema_is_current():
            raise click.ClickException(
                "the database schema is out of date: run `escrow db upgrade`"
            )
        yield components
    finally:
        components.db.dispose()
