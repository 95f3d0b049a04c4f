"""The ``escrow`` command: serve, migrate, bootstrap (server host), and the API client."""

from __future__ import annotations

import json
import sys

import click

from escrow import __version__
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
def serve(migrate: bool) -> None:
    """Serve the API on ESCROW_BIND; refuses an out-of-date schema unless --migrate."""
    import uvicorn

    from escrow.app import build_components, create_app
    from storage.blobs import S3BlobStore

    settings = server_settings()
    components = build_components(settings)
    if isinstance(components.blobs, S3BlobStore):
        components.blobs.ensure_bucket()
    if migrate:
        components.db.upgrade()
    elif not components.db.schema_is_current():
        raise click.ClickException(
            "the database schema is out of date: "
            "run `escrow db upgrade` or `escrow serve --migrate`"
        )
    try:
        uvicorn.run(
            create_app(components),
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http="httptools",
            log_level="info",
            access_log=False,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )
    finally:
        components.db.dispose()  # the app borrows the engine (see escrow/sqlalchemy_config.py)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the credential as JSON.")
def bootstrap(as_json: bool) -> None:
    """Create the platform org if absent and print a NEW operator API key (shown once)."""
    from escrow.orgs.bootstrap import bootstrap as run_bootstrap

    with server_components() as components:
        result = run_bootstrap(components)
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
audit.add_command(audit_client.export)
audit.add_command(audit_client.public_key)
for policy_command in policy_client.CLIENT_COMMANDS:
    policy.add_command(policy_command)
