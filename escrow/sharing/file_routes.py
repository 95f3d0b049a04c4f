"""HTTP for signed file URLs: a materialized view as Parquet, streamed (Range supported).

The URL's token is the only credential: it names the profile, the agreement and the file,
and every live check runs again on each fetch (escrow/sharing/fetches.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import anyio
from anyio import to_thread
from litestar import Request, Response, get, head
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from escrow.request_context import request_context
from escrow.service import Collaborators
from escrow.sharing.fetches import FileFetches, ServedFile
from escrow.sharing.openapi import FILE_SPEC, PARQUET, PROTOCOL_ERRORS
from escrow.sharing.protocol import SharingServer

Server = NamedDependency[SharingServer]
SignedToken = Annotated[
    str, QueryParameter(name="token", max_length=1024, description="The URL's signed claims")
]


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
