"""HTTP for recipient profiles (``/v1``) and the Delta Sharing protocol (``/delta-sharing``).

Protocol errors leave as the protocol's ``{"errorCode", "message"}`` bodies (see
escrow/problems.py); its endpoints authenticate recipient profiles only, not ``/v1`` tokens.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC
from typing import Annotated, Any

import anyio
from anyio import to_thread
from litestar import Request, Response, Router, delete, get, head, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream

from escrow.errors import BadRequestError
from escrow.paging import DEFAULT_PAGE_SIZE
from escrow.params import Cursor, Deps, Limit
from escrow.request_context import request_context
from escrow.schemas import PageOut
from escrow.service import Collaborators, ServiceDeps
from escrow.sharing import actions, pages
from escrow.sharing.fetches import FileFetches, ServedFile
from escrow.sharing.protocol import SCHEMA, SharedTable, SharingProtocol, SharingServer, link
from escrow.sharing.schemas import (
    GetShareOut,
    ListSchemasOut,
    ListSharesOut,
    ListTablesOut,
    ProfileCreate,
    ProfileFile,
    ProfileOut,
    ProtocolError,
    QueryBody,
    SchemaOut,
    ShareOut,
    TableOut,
)
from escrow.sharing.service import ProfileService, RecipientAuthenticator

PREFIX = "/delta-sharing"
TABLE = "/shares/{share:str}/schemas/{schema:str}/tables/{table:str}"
NDJSON = "application/x-ndjson; charset=utf-8"
PARQUET = "application/vnd.apache.parquet"
VERSION_HEADER = "delta-table-version"
Server = NamedDependency[SharingServer]
CAPABILITIES = {"delta-sharing-capabilities": "responseformat=parquet"}
MaxResults = Annotated[
    str | None,
    QueryParameter(name="maxResults", required=False, max_length=16, description="Page size"),
]
PageToken = Annotated[
    str | None,
    QueryParameter(name="pageToken", required=False, max_length=1024, description="Next page"),
]
SignedToken = Annotated[
    str, QueryParameter(name="token", max_length=1024, description="The URL's signed claims")
]
_ERROR_TEXT = {
    400: "INVALID_PARAMETER_VALUE or MALFORMED_REQUEST",
    401: "UNAUTHENTICATED: no live recipient profile token",
    403: "PERMISSION_DENIED: an expired, tampered or dead file URL",
    404: "RESOURCE_DOES_NOT_EXIST: no such share, schema, table (or not shared with you)",
    "default": "Any other error, in the protocol's error body",
}
# The protocol's error body replaces problem details on every /delta-sharing/ operation.
PROTOCOL_ERRORS: dict[Any, ResponseSpec] = {
    status: ResponseSpec(
        ProtocolError, media_type="application/json", description=text, generate_examples=False
    )
    for status, text in _ERROR_TEXT.items()
}
for _status in (405, 413, 416, 429, 431, 503):
    PROTOCOL_ERRORS[_status] = PROTOCOL_ERRORS["default"]
NDJSON_SPEC = {
    **PROTOCOL_ERRORS,
    200: ResponseSpec(str, media_type=NDJSON, description="NDJSON actions"),
}
FILE_SPEC = {
    **PROTOCOL_ERRORS,
    **{
        status: ResponseSpec(bytes, media_type=PARQUET, description=text, generate_examples=False)
        for status, text in [(200, "The file"), (206, "The requested range")]
    },
}

# ---------------------------------------------------------------------- recipient profiles


@post("/", sync_to_thread=True, summary="Create a Delta Sharing recipient profile (shown once)")
def create_profile(
    org: FromPath[str], data: JSONBody[ProfileCreate], deps: Deps, server: Server
) -> Response[ProfileFile]:
    issued = ProfileService(deps).create(org, data.name, data.expires_in, server.profile_max_ttl)
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
    org: FromPath[str], deps: Deps, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
) -> PageOut[ProfileOut]:
    page = ProfileService(deps).list_in_org(org, cursor, limit)
    return PageOut([ProfileOut.of(p) for p in page.items], page.next_cursor)


@delete(
    "/{profile_id:str}",
    sync_to_thread=True,
    status_code=200,
    summary="Revoke a recipient profile, at once",
)
def revoke_profile(org: FromPath[str], profile_id: FromPath[str], deps: Deps) -> ProfileOut:
    return ProfileOut.of(ProfileService(deps).revoke(org, profile_id))


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
        [TableOut(t.name, SCHEMA, t.share, t.share_id, t.agreement.id) for t in items], token
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
    return _ndjson(lines, snapshot.version.number)


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
    return _ndjson(lines, snapshot.version.number)


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


# ---------------------------------------------------------------------- signed file URLs


async def _served(
    request: Request[Any, Any, State],
    file_id: str,
    token: str,
    parts: tuple[Collaborators, SharingServer],
    *,
    head_only: bool,
) -> ServedFile:
    shared, server = parts
    ctx = request_context(request)
    range_header = request.headers.get("range")
    signer = server.signer()

    def open_file() -> ServedFile:
        with shared.unit_of_work(ctx) as deps:
            fetches = FileFetches(deps, server.files)
            return fetches.open(signer, file_id, token, range_header, head=head_only)

    return await to_thread.run_sync(open_file)


def _file_headers(served: ServedFile) -> tuple[int, dict[str, str]]:
    headers = {"ETag": served.etag, "Accept-Ranges": "bytes", "Cache-Control": "private, no-store"}
    if served.byte_range is None:
        headers["Content-Length"] = str(served.size)
        return 200, headers
    last = served.byte_range.end - 1
    headers["Content-Length"] = str(served.byte_range.length)
    headers["Content-Range"] = f"bytes {served.byte_range.start}-{last}/{served.size}"
    return 206, headers


@get(
    "/files/{file_id:str}",
    summary="A signed file URL: the view as Parquet (Range supported)",
    responses=FILE_SPEC,
    security=[],
)
async def fetch_file(
    request: Request[Any, Any, State],
    file_id: FromPath[str],
    token: SignedToken,
    shared: NamedDependency[Collaborators],
    server: Server,
) -> Stream:
    served = await _served(request, file_id, token, (shared, server), head_only=False)
    status, headers = _file_headers(served)
    return Stream(
        _in_threads(served.chunks or iter(())),
        status_code=status,
        headers=headers,
        media_type=PARQUET,
    )


@head(
    "/files/{file_id:str}",
    summary="A signed file URL's size",
    security=[],
    responses=PROTOCOL_ERRORS,
)
async def fetch_file_head(
    request: Request[Any, Any, State],
    file_id: FromPath[str],
    token: SignedToken,
    shared: NamedDependency[Collaborators],
    server: Server,
) -> Response[None]:
    served = await _served(request, file_id, token, (shared, server), head_only=True)
    status, headers = _file_headers(served)
    # An empty body: litestar cannot serialize None as Parquet, and our Content-Length stays.
    return Response(b"", status_code=status, headers=headers, media_type=PARQUET)  # type: ignore[arg-type]


async def _in_threads(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Pull a blocking iterator from worker threads, one chunk per hop."""
    try:
        while (chunk := await to_thread.run_sync(next, chunks, None)) is not None:
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await to_thread.run_sync(close)


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
