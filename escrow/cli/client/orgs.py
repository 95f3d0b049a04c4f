"""``escrow orgs``: organizations, their members and service accounts, and API keys."""

from __future__ import annotations

import click

from escrow.cli.client.invocation import (
    Invocation,
    build,
    client_command,
    listing_options,
    show_list,
)
from escrow.cli.client.models.members import (
    IssuedKeyOut,
    KeyOut,
    KeyRotate,
    PrincipalCreate,
    PrincipalOut,
    RolesUpdate,
)
from escrow.cli.client.models.orgs import OrgCreate, OrgOut, OrgUpdate
from escrow.cli.client.output import fields

TIERS = click.Choice(["strategic", "core", "complementary", "ancillary"])
ROLES = click.Choice(["admin", "steward", "member", "auditor", "operator"])
ORG_COLUMNS = [
    ("slug", lambda o: o.slug),
    ("name", lambda o: o.name),
    ("tier", lambda o: o.tier),
    ("status", lambda o: o.status),
    ("id", lambda o: o.id),
]
PRINCIPAL_COLUMNS = [
    ("id", lambda p: p.id),
    ("name", lambda p: p.name),
    ("roles", lambda p: p.roles),
    ("status", lambda p: p.status),
    ("email", lambda p: p.email),
]
KEY_COLUMNS = [
    ("key_id", lambda k: k.key_id),
    ("created", lambda k: k.created_at),
    ("expires", lambda k: k.expires_at),
    ("revoked", lambda k: k.revoked_at),
    ("last used", lambda k: k.last_used_at),
]


@click.group()
def orgs() -> None:
    """Organizations (operators), their members, service accounts and API keys."""


def _emit_org(inv: Invocation, org: OrgOut) -> None:
    inv.out.emit(org, lambda: fields(org))


@orgs.command()
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--tier", type=TIERS, required=True)
@client_command
def create(inv: Invocation, slug: str, name: str, tier: str) -> None:
    """Create an organization (operators)."""
    body = build(OrgCreate, {"slug": slug, "name": name, "tier": tier})
    _emit_org(inv, inv.client.call("POST", "/v1/orgs", OrgOut, body=body))


@orgs.command("list")
@listing_options
@client_command
def list_orgs(inv: Invocation, limit: int, cursor: str | None, every: bool) -> None:
    """Organizations you may see (operators: all; others: their own and partners)."""
    show_list(inv, "/v1/orgs", OrgOut, ORG_COLUMNS, limit=limit, cursor=cursor, every=every)


@orgs.command()
@click.argument("org")
@client_command
def show(inv: Invocation, org: str) -> None:
    """One organization, by slug or id."""
    _emit_org(inv, inv.client.get(f"/v1/orgs/{org}", OrgOut))


@orgs.command()
@click.argument("org")
@click.option("--name")
@click.option("--tier", type=TIERS)
@client_command
def update(inv: Invocation, org: str, name: str | None, tier: str | None) -> None:
    """Rename or re-tier an organization (operators)."""
    body = build(OrgUpdate, {"name": name, "tier": tier})
    _emit_org(inv, inv.client.call("PATCH", f"/v1/orgs/{org}", OrgOut, body=body))


@orgs.command()
@click.argument("org")
@client_command
def suspend(inv: Invocation, org: str) -> None:
    """Suspend an organization: its principals can do nothing (operators)."""
    _emit_org(inv, inv.client.call("POST", f"/v1/orgs/{org}/suspend", OrgOut))


@orgs.command()
@click.argument("org")
@client_command
def reactivate(inv: Invocation, org: str) -> None:
    """Lift a suspension (operators)."""
    _emit_org(inv, inv.client.call("POST", f"/v1/orgs/{org}/reactivate", OrgOut))


def principal_group(segment: str, noun: str, with_email: bool) -> click.Group:
    """The same commands for members and service accounts, as the API serves both.

    Long by design: a factory of nine short commands that share its parameters (each is a
    closure over ``segment`` and ``noun``), read as one list."""
    group = click.Group(segment, help=f"An organization's {noun}s and their API keys.")

    def base(org: str, principal_id: str | None = None) -> str:
        path = f"/v1/orgs/{org}/{segment}"
        return path if principal_id is None else f"{path}/{principal_id}"

    def emit(inv: Invocation, principal: PrincipalOut) -> None:
        inv.out.emit(principal, lambda: fields(principal))

    @group.command("list")
    @click.argument("org")
    @listing_options
    @client_command
    def list_principals(
        inv: Invocation, org: str, limit: int, cursor: str | None, every: bool
    ) -> None:
        """List them (org admins and auditors, operators)."""
        show_list(
            inv, base(org), PrincipalOut, PRINCIPAL_COLUMNS, limit=limit, cursor=cursor, every=every
        )

    @group.command("add")
    @click.argument("org")
    @click.argument("name")
    @click.option("--role", "roles", type=ROLES, multiple=True, required=True, help="(repeat)")
    @click.option("--email", hidden=not with_email, help="Contact address (members only).")
    @client_command
    def add(
        inv: Invocation, org: str, name: str, roles: tuple[str, ...], email: str | None
    ) -> None:
        """Add one (org admins; operators only an organization's first admin, whose API key
        is printed once); then an admin's `issue-key` gives it an API key."""
        body = build(PrincipalCreate, {"name": name, "roles": list(roles), "email": email})
        created = inv.client.call("POST", base(org), PrincipalOut, body=body)

        def human() -> None:
            fields(created)
            if created.api_key is not None:
                click.echo("The first admin's API key; hand it over, the admin rotates it:")
                _show_issued(created.api_key)

        inv.out.emit(created, human)

    @group.command("show")
    @click.argument("org")
    @click.argument("principal_id")
    @client_command
    def show_principal(inv: Invocation, org: str, principal_id: str) -> None:
        """One of them."""
        emit(inv, inv.client.get(base(org, principal_id), PrincipalOut))

    @group.command("set-roles")
    @click.argument("org")
    @click.argument("principal_id")
    @click.option("--role", "roles", type=ROLES, multiple=True, required=True, help="(repeat)")
    @client_command
    def set_roles(inv: Invocation, org: str, principal_id: str, roles: tuple[str, ...]) -> None:
        """Replace its roles (applies at once, to live tokens too)."""
        body = build(RolesUpdate, {"roles": list(roles)})
        emit(inv, inv.client.call("PATCH", base(org, principal_id), PrincipalOut, body=body))

    @group.command("remove")
    @click.argument("org")
    @click.argument("principal_id")
    @client_command
    def remove(inv: Invocation, org: str, principal_id: str) -> None:
        """Remove it and revoke all its keys at once."""
        inv.client.send("DELETE", base(org, principal_id))
        inv.out.emit({"id": principal_id, "removed": True}, f"Removed {principal_id}.")

    @group.command("suspend")
    @click.argument("org")
    @click.argument("principal_id")
    @client_command
    def suspend(inv: Invocation, org: str, principal_id: str) -> None:
        """Suspend it: its keys and tokens stop working (org admins, operators)."""
        emit(inv, inv.client.call("POST", base(org, principal_id) + "/suspend", PrincipalOut))

    @group.command("reactivate")
    @click.argument("org")
    @click.argument("principal_id")
    @client_command
    def reactivate(inv: Invocation, org: str, principal_id: str) -> None:
        """Lift its suspension (org admins, operators)."""
        emit(inv, inv.client.call("POST", base(org, principal_id) + "/reactivate", PrincipalOut))

    @group.command("keys")
    @click.argument("org")
    @click.argument("principal_id")
    @listing_options
    @client_command
    def keys(
        inv: Invocation, org: str, principal_id: str, limit: int, cursor: str | None, every: bool
    ) -> None:
        """Its API keys (never their secrets)."""
        path = base(org, principal_id) + "/keys"
        show_list(inv, path, KeyOut, KEY_COLUMNS, limit=limit, cursor=cursor, every=every)

    @group.command("issue-key")
    @click.argument("org")
    @click.argument("principal_id")
    @client_command
    def issue_key(inv: Invocation, org: str, principal_id: str) -> None:
        """A new API key; the secret is printed once."""
        issued = inv.client.call("POST", base(org, principal_id) + "/keys", IssuedKeyOut)
        _emit_issued(inv, issued)

    @group.command("rotate-key")
    @click.argument("org")
    @click.argument("principal_id")
    @click.argument("key_id")
    @click.option(
        "--grace-seconds",
        type=click.IntRange(0, 2_592_000),
        default=3600,
        show_default=True,
        help="How long the old key keeps working.",
    )
    @client_command
    def rotate_key(
        inv: Invocation, org: str, principal_id: str, key_id: str, grace_seconds: int
    ) -> None:
        """A new key replacing KEY_ID, which works for the grace period."""
        body = build(KeyRotate, {"grace_seconds": grace_seconds})
        path = f"{base(org, principal_id)}/keys/{key_id}/rotate"
        _emit_issued(inv, inv.client.call("POST", path, IssuedKeyOut, body=body))

    @group.command("revoke-key")
    @click.argument("org")
    @click.argument("principal_id")
    @click.argument("key_id")
    @client_command
    def revoke_key(inv: Invocation, org: str, principal_id: str, key_id: str) -> None:
        """Revoke KEY_ID at once."""
        inv.client.send("DELETE", f"{base(org, principal_id)}/keys/{key_id}")
        inv.out.emit({"key_id": key_id, "revoked": True}, f"Revoked {key_id}.")

    return group


def _emit_issued(inv: Invocation, issued: IssuedKeyOut) -> None:
    inv.out.emit(issued, lambda: _show_issued(issued))


def _show_issued(issued: IssuedKeyOut) -> None:
    click.echo(f"key_id: {issued.key_id}")
    click.echo(f"secret: {issued.secret}")
    click.echo("The secret is shown once; store it now (e.g. `escrow login --secret-stdin`).")


orgs.add_command(principal_group("members", "member", with_email=True))
orgs.add_command(principal_group("service-accounts", "service account", with_email=False))
