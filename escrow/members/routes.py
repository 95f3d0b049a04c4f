"""HTTP for members (kind "user") and service accounts (kind "service").

Both expose the same operations over the same service, so one factory builds both routers.
"""

from __future__ import annotations

from litestar import Router, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from escrow.members.schemas import (
    IssuedKeyOut,
    KeyOut,
    KeyRotate,
    PrincipalCreate,
    PrincipalOut,
    RolesUpdate,
)
from escrow.members.service import MemberService
from escrow.paging import DEFAULT_PAGE_SIZE
from escrow.params import Cursor, Limit
from escrow.schemas import PageOut

Members = NamedDependency[MemberService]


def principal_router(kind: str, segment: str, tag: str) -> Router:
    """The routes of members or service accounts, which the API serves alike.

    Long by design: a factory of short handlers that close over ``kind`` and ``tag`` (the
    OpenAPI summaries and the service calls differ by them only), read as one list."""
    item = "/{principal_id:str}"

    @post("/", sync_to_thread=True, summary=f"Add a {tag} (org admins)")
    def create(
        org: FromPath[str], data: JSONBody[PrincipalCreate], members: Members
    ) -> PrincipalOut:
        created = members.create(org, kind, data.name, list(data.roles), data.email)
        return PrincipalOut.created(created)

    @get("/", sync_to_thread=True, summary=f"List {tag}s")
    def list_principals(
        org: FromPath[str],
        members: Members,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> PageOut[PrincipalOut]:
        page = members.list_in_org(org, kind, cursor, limit)
        return PageOut([PrincipalOut.of(m) for m in page.items], page.next_cursor)

    @get(item, sync_to_thread=True, summary=f"Read a {tag}")
    def read(org: FromPath[str], principal_id: FromPath[str], members: Members) -> PrincipalOut:
        return PrincipalOut.of(members.get(org, kind, principal_id))

    @patch(item, sync_to_thread=True, summary=f"Change a {tag}'s roles")
    def set_roles(
        org: FromPath[str],
        principal_id: FromPath[str],
        data: JSONBody[RolesUpdate],
        members: Members,
    ) -> PrincipalOut:
        member = members.set_roles(org, kind, principal_id, list(data.roles))
        return PrincipalOut.of(member)

    @post(
        item + "/suspend",
        sync_to_thread=True,
        status_code=200,
        summary=f"Suspend a {tag} (admins, operators)",
    )
    def suspend(org: FromPath[str], principal_id: FromPath[str], members: Members) -> PrincipalOut:
        member = members.set_status(org, kind, principal_id, "suspended")
        return PrincipalOut.of(member)

    @post(item + "/reactivate", sync_to_thread=True, status_code=200, summary="Reactivate")
    def reactivate(
        org: FromPath[str], principal_id: FromPath[str], members: Members
    ) -> PrincipalOut:
        member = members.set_status(org, kind, principal_id, "active")
        return PrincipalOut.of(member)

    @delete(item, sync_to_thread=True, summary=f"Remove a {tag} and revoke its keys")
    def remove(org: FromPath[str], principal_id: FromPath[str], members: Members) -> None:
        members.remove(org, kind, principal_id)

    @post(item + "/keys", sync_to_thread=True, summary="Issue an API key (secret shown once)")
    def issue_key(
        org: FromPath[str], principal_id: FromPath[str], members: Members
    ) -> IssuedKeyOut:
        return IssuedKeyOut.of(members.issue_key(org, kind, principal_id))

    @get(item + "/keys", sync_to_thread=True, summary="List API keys (never their secrets)")
    def list_keys(
        org: FromPath[str],
        principal_id: FromPath[str],
        members: Members,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> PageOut[KeyOut]:
        page = members.list_keys(org, kind, principal_id, cursor, limit)
        return PageOut([KeyOut.of(k) for k in page.items], page.next_cursor)

    @post(item + "/keys/{key_id:str}/rotate", sync_to_thread=True, summary="Rotate an API key")
    def rotate_key(
        org: FromPath[str],
        principal_id: FromPath[str],
        key_id: FromPath[str],
        members: Members,
        data: JSONBody[KeyRotate | None] = None,
    ) -> IssuedKeyOut:
        grace = (data or KeyRotate()).grace_seconds
        return IssuedKeyOut.of(members.rotate_key(org, kind, principal_id, key_id, grace))

    @delete(item + "/keys/{key_id:str}", sync_to_thread=True, summary="Revoke an API key")
    def revoke_key(
        org: FromPath[str], principal_id: FromPath[str], key_id: FromPath[str], members: Members
    ) -> None:
        members.revoke_key(org, kind, principal_id, key_id)

    return Router(
        path=f"/v1/orgs/{{org:str}}/{segment}",
        route_handlers=[
            create,
            list_principals,
            read,
            set_roles,
            suspend,
            reactivate,
            remove,
            issue_key,
            list_keys,
            rotate_key,
            revoke_key,
        ],
        tags=[tag + "s"],
    )


members_router = principal_router("user", "members", "member")
service_accounts_router = principal_router("service", "service-accounts", "service account")
