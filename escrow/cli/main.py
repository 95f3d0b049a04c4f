"""The ``escrow`` command: serve, migrate, bootstrap (server host), and the API client."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import click

from escrow import __version__
from escrow.cli import audit_export
from escrow.cli.audit import audit
from escrow.cli.client import audit as audit_client
from escrow.cli.client import policy as policy_client
from escrow.cli.client.agreements import agreements
from escrow.cli.client.datasets import datasets
from escrow.cli.client.demo import demo
from escrow.cli.client.login import list_profiles, login, logout, whoami
from escrow.cli.client.orgs import orgs
from escrow.cli.client.overlaps import overlaps, populations
from escrow.cli.client.partnerships import partnerships
from escrow.cli.keys import keys
from escrow.cli.policy import policy
from escrow.cli.receipts import receipt
from escrow.cli.server_context import server_components, server_settings
from escrow.cli.storage import storage


@click.group()
@click.version_option(__version__, prog_name="escrow")
def cli() -> None:
    """Partner Escrow: release escrowed datasets to partners under audited policy.

    Client commands (login, datasets, agreements, orgs, partnerships, audit, policy, demo)
    call a server with a saved profile; serve, db, bootstrap, keys and storage run on the
    server host with its ESCROW_* settings.
    """


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from storage.db import Database

    database = Database(server_settings().database_url)
    database.upgrade()
    click.echo(f"schema at {database.current_revision()}")


@db.command("current")
def db_current() -> None:
    """Print the schema revision and whether it is up to date (exit 1 if not)."""
    from storage.db import Database

    database = Database(server_settings().database_url)
    current, head = database.current_revision(), database.head_revision()
    click.echo(f"current={current} head={head}")
    sys.exit(0 if current == head else 1)


@cli.command()
@click.option("--migrate", is_flag=True, help="Apply pending migrations before serving.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes on the bind (default: ESCROW_WORKERS, else 1); PostgreSQL only.",
)
def serve(migrate: bool, workers: int | None) -> None:
    """Serve the API on ESCROW_BIND; refuses an out-of-date schema unless --migrate."""
    import uvicorn

    from crypto import KeyringError
    from escrow.app import build_components, create_app
    from escrow.keys.configured import close_key_manager
    from storage.blobs import S3BlobStore

    settings = server_settings()
    workers = workers or settings.workers
    if workers > 1 and settings.database_url.startswith("sqlite"):
        raise click.ClickException(
            "--workers above 1 needs PostgreSQL (ESCROW_DATABASE_URL): the embedded SQLite"
            " database is served by one process"
        )
    try:
        components = build_components(settings)
    except KeyringError as exc:  # the keyring file or the PKCS#11 token cannot be used
        raise click.ClickException(f"keys: {exc}") from None
    if isinstance(components.blobs, S3BlobStore):
        components.blobs.ensure_bucket()
    if migrate:
        components.db.upgrade()
    elif not components.db.schema_is_current():
        raise click.ClickException(
            "the database schema is out of date: "
            "run `escrow db upgrade` or `escrow serve --migrate`"
        )
    served = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        "http": "httptools",
        "log_level": "info",
        "access_log": False,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
    }
    if workers > 1:
        components.db.dispose()  # each worker builds its own
        close_key_manager(components.keyring)
        _serve_workers(workers, settings.metrics_dir, served)
        return
    try:
        uvicorn.run(create_app(components), **served)  # type: ignore[arg-type]
    finally:
        components.db.dispose()  # the app borrows the engine (see escrow/sqlalchemy_config.py)
        close_key_manager(components.keyring)


def _serve_workers(workers: int, metrics_dir: Path | None, served: dict[str, object]) -> None:
    """uvicorn's supervisor with ``workers`` processes, each running
    ``escrow.app:app_from_environment``; their metrics meet in one multiprocess directory
    (PROMETHEUS_MULTIPROC_DIR, or a fresh one removed at exit), which the workers read from
    the environment they inherit."""
    import uvicorn

    with tempfile.TemporaryDirectory(prefix="escrow-metrics-") as fresh:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir or fresh)
        uvicorn.run(
            "escrow.app:app_from_environment",
            factory=True,
            workers=workers,
            **served,  # type: ignore[arg-type]
        )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the credential as JSON.")
def bootstrap(as_json: bool) -> None:
    """Create the platform org if absent and print a NEW operator API key (shown once)."""
    from escrow.orgs.bootstrap import bootstrap as run_bootstrap

    with server_components() as components:
        result = run_bootstrap(components.db, components.audit, components.clock, components.new_id)
    if as_json:
        click.echo(
            json.dumps({"org": result.org, "key_id": result.key_id, "secret": result.secret})
        )
        return
    click.echo(f"platform org: {result.org} ({'created' if result.created_org else 'exists'})")
    click.echo(f"operator key_id: {result.key_id}")
    click.echo(f"operator secret: {result.secret}")
    click.echo("The secret is shown once; store it now.")


cli.add_command(audit)
cli.add_command(keys)
cli.add_command(receipt)
cli.add_command(storage)
cli.add_command(policy)
for client_command in (login, logout, whoami, list_profiles, datasets, agreements, orgs):
    cli.add_command(client_command)
cli.add_command(partnerships)
cli.add_command(populations)
cli.add_command(overlaps)
cli.add_command(demo)
audit.add_command(audit_client.events)
audit.add_command(audit_client.checkpoint)
audit.add_command(audit_export.export)
audit.add_command(audit_export.public_key)
for policy_command in policy_client.CLIENT_COMMANDS:
    policy.add_command(policy_command)
