"""``escrow login``, ``logout``, ``whoami`` and ``profiles``: which server, which key."""

from __future__ import annotations

import ipaddress
import operator
import sys
from urllib.parse import urlsplit

import click

from escrow.cli.client.api import Client
from escrow.cli.client.exits import CliError, ExitCode, usage_error
from escrow.cli.client.invocation import Invocation, client_command
from escrow.cli.client.models.auth import WhoAmIOut
from escrow.cli.client.output import fields, table
from escrow.cli.client.profiles import DEFAULT_NAME, Profile, check_name, normalize_server


@click.command()
@click.option("--server", required=True, help="The API's base URL, e.g. http://127.0.0.1:8000.")
@click.option("--key-id", required=True, help="The API key id (pek_...).")
@click.option(
    "--secret",
    help="The key's secret. Other local users can see arguments: prefer the prompt or stdin.",
)
@click.option("--secret-stdin", is_flag=True, help="Read the secret from the first stdin line.")
@click.option("--default", "make_default", is_flag=True, help="Make this the default profile.")
@client_command
def login(
    inv: Invocation,
    server: str,
    key_id: str,
    secret: str | None,
    secret_stdin: bool,
    make_default: bool,
) -> None:
    """Check an API key against SERVER by exchanging it for a token, then save the profile.

    The profile (URL, key id, secret) goes to profiles.toml in $ESCROW_CONFIG_DIR (default
    ~/.config/escrow), mode 0600; nothing is saved if the server refuses the key. The first
    profile becomes the default; --profile NAME (default "default") names this one.
    """
    name = check_name(inv.profile_name or DEFAULT_NAME)
    profile = Profile(name, normalize_server(server), key_id.strip(), _secret(secret, secret_stdin))
    if _cleartext(profile.server):
        inv.out.note(
            f"warning: {profile.server} is not https: the secret crosses the network in clear"
        )
    with Client(profile) as client:
        try:
            client.exchange()
        except CliError as exc:
            if exc.exit_code != ExitCode.AUTH:
                raise
            raise CliError.local(
                ExitCode.AUTH,
                "unauthenticated",
                "Login refused",
                f"{profile.server} refused key {profile.key_id} (unknown, wrong secret, revoked"
                " or expired); nothing was saved",
            ) from None
        me = client.get("/v1/auth/whoami", WhoAmIOut)
    profiles = inv.store.save(profile, make_default)
    is_default = profiles.default == name
    inv.out.emit(
        {
            "profile": name,
            "server": profile.server,
            "key_id": profile.key_id,
            "default": is_default,
            "path": str(inv.store.path),
            "whoami": me,
        },
        f"Logged in to {profile.server} as {me.id} ({me.kind} of {me.org}, roles:"
        f" {', '.join(me.roles)}).\nProfile {name!r} saved in {inv.store.path}"
        + (" (default)." if is_default else "."),
    )


def _secret(given: str | None, from_stdin: bool) -> str:
    if given is not None and from_stdin:
        raise usage_error("give --secret or --secret-stdin, not both")
    if given is None and (from_stdin or not sys.stdin.isatty()):
        given = sys.stdin.readline()
    elif given is None:
        given = click.prompt("API key secret", hide_input=True, err=True)
    secret = given.strip()
    if not secret:
        raise usage_error("the secret is empty")
    return secret


def _cleartext(server: str) -> bool:
    parts = urlsplit(server)
    if parts.scheme == "https" or parts.hostname == "localhost":
        return False
    try:
        return not ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        return True


@click.command()
@client_command
def logout(inv: Invocation) -> None:
    """Forget a profile (the selected or default one). The API key itself stays valid:
    an org admin revokes it (DELETE .../keys/{key_id})."""
    profile = inv.store.get(inv.profile_name)
    inv.store.remove(profile.name)
    inv.out.emit(
        {"profile": profile.name, "removed": True},
        f"Removed profile {profile.name!r} ({profile.server}, key {profile.key_id}).",
    )


@click.command()
@client_command
def whoami(inv: Invocation) -> None:
    """The principal the selected profile's key belongs to, as the server sees it."""
    me = inv.client.get("/v1/auth/whoami", WhoAmIOut)

    def human() -> None:
        click.echo(f"profile: {inv.client.profile.name}")
        click.echo(f"server: {inv.client.profile.server}")
        fields(me)

    inv.out.emit(me, human)


@click.command("profiles")
@client_command
def list_profiles(inv: Invocation) -> None:
    """The saved profiles (never their secrets)."""
    saved = inv.store.load()
    rows = [
        {"name": p.name, "server": p.server, "key_id": p.key_id, "default": p.name == saved.default}
        for p in saved.entries.values()
    ]
    inv.out.emit(
        {"default": saved.default, "profiles": rows},
        lambda: table(
            rows,
            [(h, operator.itemgetter(h)) for h in ("name", "server", "key_id", "default")],
        ),
    )
