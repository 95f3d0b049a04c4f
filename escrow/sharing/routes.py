"""HTTP for recipient profiles (``/v1``) and the Delta Sharing protocol (``/delta-sharing``).

Protocol errors leave as the protocol's ``{"errorCode", "message"}`` bodies (see
escrow/problems.py); its endpoints authenticate recipient profiles only, not ``/v1`` tokens.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Annotated, Any

from litestar import Request, Response, Router, delete, get, head, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from escrow.errors import BadRequestError
from escrow.paging import DEFAULT_PAGE_SIZE
from escrow.params import Cursor, Deps, Limit
from escrow.request_context import request_context
from escrow.schemas import PageOut
from escrow.service import ServiceDeps
from escrow.sharing import actions, pages
from escrow.sharing.file_routes import Server, fetch_file, fetch_file_head
from escrow.sharing.openapi import NDJSON, NDJSON_SPEC, PROTOCOL_ERRORS
from escrow.sharing.protocol import SCHEMA, SharingProtocol, SharingServer, link
from escrow.sharing.results import SharedTable
from escrow.sharing.schemas import (
    GetShareOut,
    ListSchemasOut,
    ListSharesOut,
    ListTablesOut,
    ProfileCreate,
    ProfileFile,
    ProfileOut,
    QueryBody,
    SchemaOut,
    ShareOut,
    TableOut,
)
from escrow.sharing.service import ProfileService, RecipientAuthenticator

Profiles = NamedDependency[ProfileService]

PREFIX = "/delta-sharing"
TABLE = "/shares/{share:str}/schemas/{schema:str}/tables/{table:str}"
VERSION_HEADER = "delta-table-version"
CAPABILITIES = {"delta-sharing-capabilities": "responseformat=parquet"}
MaxResults = Annotated[
    str | None,
    QueryParameter(name="maxResults", required=False, max_length=16, description="Page size"),
]
PageToken = Annotated[
    str | None,
    QueryParameter(name="pageToken", required=False, max_length=1024, description="Next page"),
]
# ---------------------------------------------------------------------- recipient profiles


@post("/", sync_to_thread=True, summary="Create a Delta Sharing recipient profile (shown once)")
def create_profile(
    org: FromPath[str], data: JSONBody[ProfileCreate], profiles: Profiles, server: Server
) -> Response[ProfileFile]:
    issued = profiles.create(org, data.name, data.expires_in, server.profile_max_ttl)
    expires = issued.profile.expires_at.astimezone(UTC).isoformat(timespec="seconds")
    body = ProfileFile(
        share_credentials_version=1,
        endpoint=f"{server.public_url}{PREFIX}/",
        bearer_token=issued.bearer_token,
        expiration_time=expires.replace("+00:00", "Z"),
    )
    location = f"/v1/orgs/{org}/sharing-profiles/{issued.profile.id}"
    return Response(body, status_code=201, headers={"Location": location})


@get("/", sync_to_thread=True, summary="List the organization's recipient profiles")
def list_profiles(
    org: FromPath[str], profiles: Profiles, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
) -> PageOut[ProfileOut]:
    page = profiles.list_in_org(org, cursor, limit)
    return PageOut([ProfileOut.of(p) for p in page.items], page.next_cursor)


@delete(
    "/{profile_id:str}",
    sync_to_thread=True,
    status_code=200,
    summary="Revoke a recipient profile, at once",
)
def revoke_profile(org: FromPath[str], profile_id: FromPath[str], profiles: Profiles) -> ProfileOut:
    return ProfileOut.of(profiles.revoke(org, profile_id))


profiles_router = Router(
    path="/v1/orgs/{org:str}/sharing-profiles",
    route_handlers=[create_profile, list_profiles, revoke_profile],
    tags=["sharing"],
)

# ---------------------------------------------------------------------- the protocol


def _recipient(
    request: Request[Any, Any, State], deps: ServiceDeps, server: SharingServer
) -> SharingProtocol:
    """Authenticates the profile; the protocol's services act as its read-only member."""
    recipient = RecipientAuthenticator(deps).authenticate(request.headers.get("authorization", ""))
    ctx = request_context(request)
    as_recipient = deps.acting(type(ctx)(ctx.request_id, recipient.actor, ctx.client_ip))
    return SharingProtocol(as_recipient, recipient, server.files)


@get("/shares", sync_to_thread=True, summary="List shares", responses=PROTOCOL_ERRORS)
def list_shares(
    request: Request[Any, Any, State],
    deps: Deps,
    server: Server,
    max_results: MaxResults = None,
    page_token: PageToken = None,
) -> ListSharesOut:
    sharing = _recipient(request, deps, server)
    limit = pages.max_results(max_results)
    items, token = pages.page(sharing.shares(), lambda s: s[0], limit, page_token)
    return ListSharesOut([ShareOut(name, id_) for name, id_ in items], token)


@get("/shares/{share:str}", sync_to_thread=True, summary="Get a share", responses=PROTOCOL_ERRORS)
def get_share(
    request: Request[Any, Any, State], share: FromPath[str], deps: Deps, server: Server
) -> GetShareOut:
    name, id_ = _recipient(request, deps, server).share(share)
    return GetShareOut(ShareOut(name, id_))


@get(
    "/shares/{share:str}/schemas",
    sync_to_thread=True,
    summary="List schemas in a share",
    responses=PROTOCOL_ERRORS,
)
def list_schemas(
    request: Request[Any, Any, State],
    share: FromPath[str],
    deps: Deps,
    server: Server,
    max_results: MaxResults = None,
    page_token: PageToken = None,
) -> ListSchemasOut:
    name = _recipient(request, deps, server).share(share)[0]
    limit = pages.max_results(max_results)
    items, token = pages.page([SCHEMA], lambda s: s, limit, page_token)
    return ListSchemasOut([SchemaOut(s, name) for s in items], token)


@get(
    "/shares/{share:str}/schemas/{schema:str}/tables",
    sync_to_thread=True,
    summary="List tables",
    responses=PROTOCOL_ERRORS,
)
def list_tables(
    request: Request[Any, Any, State],
    share: FromPath[str],
    schema: FromPath[str],
    deps: Deps,
    server: Server,
    max_results: MaxResults = None,
    page_token: PageToken = None,
) -> ListTablesOut:
    tables = _recipient(request, deps, server).tables_in(share, schema)
    return _tables_page(tables, max_results, page_token)


@get(
    "/shares/{share:str}/all-tables",
    sync_to_thread=True,
    summary="List all tables in a share",
    responses=PROTOCOL_ERRORS,
)
def list_all_tables(
    request: Request[Any, Any, State],
    share: FromPath[str],
    deps: Deps,
    server: Server,
    max_results: MaxResults = None,
    page_token: PageToken = None,
) -> ListTablesOut:
    tables = _recipient(request, deps, server).tables_in(share, None)
    return _tables_page(tables, max_results, page_token)


def _tables_page(
    tables: list[SharedTable], max_results: str | None, page_token: str | None
) -> ListTablesOut:
    limit = pages.max_results(max_results)
    items, token = pages.page(tables, lambda t: t.name.lower(), limit, page_token)
    return ListTablesOut(
        [TableOut(t.name, SCHEMA, t.share, t.share_id, t.id) for t in items], token
    )


def _version_only(
    request: Request[Any, Any, State],
    deps: ServiceDeps,
    server: SharingServer,
    path: tuple[str, ...],
) -> Response[None]:
    sharing = _recipient(request, deps, server)
    if request.query_params.get("startingTimestamp"):
        raise BadRequestError("startingTimestamp is not supported: tables are read by version")
    version = sharing.latest_version(sharing.table(*path))
    return Response(None, headers={VERSION_HEADER: str(version)})


@get(
    TABLE + "/version",
    sync_to_thread=True,
    summary="Query a table's version",
    responses=PROTOCOL_ERRORS,
)
def table_version(
    request: Request[Any, Any, State],
    share: FromPath[str],
    schema: FromPath[str],
    table: FromPath[str],
    deps: Deps,
    server: Server,
) -> Response[None]:
    return _version_only(request, deps, server, (share, schema, table))


@head(
    TABLE,
    sync_to_thread=True,
    summary="Query a table's version (deprecated HEAD form)",
    responses=PROTOCOL_ERRORS,
)
def table_version_head(
    request: Request[Any, Any, State],
    share: FromPath[str],
    schema: FromPath[str],
    table: FromPath[str],
    deps: Deps,
    server: Server,
) -> Response[None]:
    return _version_only(request, deps, server, (share, schema, table))


@get(
    TABLE + "/metadata",
    sync_to_thread=True,
    summary="Query a table's metadata",
    responses=NDJSON_SPEC,
)
def table_metadata(
    request: Request[Any, Any, State],
    share: FromPath[str],
    schema: FromPath[str],
    table: FromPath[str],
    deps: Deps,
    server: Server,
    version: Annotated[str | None, QueryParameter(required=False, max_length=20)] = None,
) -> Response[bytes]:
    sharing = _recipient(request, deps, server)
    found = sharing.table(share, schema, table)
    if request.query_params.get("timestamp"):
        raise BadRequestError("timestamp is not supported: tables are read by version")
    number = _version_number(version)
    snapshot = sharing.snapshot(found, number)
    lines = [actions.protocol_line(), actions.metadata_line(snapshot, number is not None)]
    return _ndjson(lines, snapshot.version)


@post(
    TABLE + "/query",
    sync_to_thread=True,
    status_code=200,
    summary="Read data from a table: signed URLs of its Parquet files",
    responses=NDJSON_SPEC,
)
def query_table(
    request: Request[Any, Any, State],
    share: FromPath[str],
    schema: FromPath[str],
    table: FromPath[str],
    deps: Deps,
    server: Server,
    data: JSONBody[QueryBody | None] = None,
) -> Response[bytes]:
    sharing = _recipient(request, deps, server)
    found = sharing.table(share, schema, table)
    body = data or QueryBody()
    if body.timestamp is not None or body.starting_version is not None:
        raise BadRequestError(
            "timestamp and startingVersion (change data feed) are not supported: query by version"
        )
    snapshot = sharing.snapshot(found, body.version)
    file_link = link(sharing.deps, sharing.recipient, snapshot, server)
    as_of = body.version is not None
    lines = [
        actions.protocol_line(),
        actions.metadata_line(snapshot, as_of),
        actions.file_line(snapshot, file_link, as_of),
    ]
    return _ndjson(lines, snapshot.version)


def _version_number(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise BadRequestError("version must be a non-negative number", field="version")
    return int(raw)


def _ndjson(lines: list[dict[str, Any]], version: int) -> Response[bytes]:
    content = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    return Response(
        content.encode(),
        media_type=NDJSON,
        headers={VERSION_HEADER: str(version), **CAPABILITIES},
    )


protocol_router = Router(
    path=PREFIX,
    route_handlers=[
        list_shares,
        get_share,
        list_schemas,
        list_tables,
        list_all_tables,
        table_version,
        table_version_head,
        table_metadata,
        query_table,
        fetch_file,
        fetch_file_head,
    ],
    tags=["delta-sharing"],
)
