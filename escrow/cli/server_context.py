"""Settings and components for commands that run on the server host."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from escrow.components import Components
from escrow.config import load_settings
from escrow.errors import ConfigError
from escrow.settings import Settings


def server_settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


@contextmanager
def server_components() -> Iterator[Components]:
    """The server's components, as `escrow serve` builds them; refuses an old schema."""
    from crypto import KeyringError
    from escrow.app import build_components
    from escrow.keys.configured import close_key_manager

    try:
        components = build_components(server_settings())
    except KeyringError as exc:  # the keyring file or the PKCS#11 token cannot be used
        raise click.ClickException(f"keys: {exc}") from None
    try:
        if not components.db.schema_is_current():
            raise click.ClickException(
                "the database schema is out of date: run `escrow db upgrade`"
            )
        yield components
    finally:
        components.db.dispose()
        close_key_manager(components.keyring)
