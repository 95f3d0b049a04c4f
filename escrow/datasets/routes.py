"""HTTP for datasets: metadata, streamed deposits and streamed (ranged) downloads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import anyio
import msgspec
from anyio import to_thread
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import InternalServerException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream

from escrow.datasets.deposit import Depositor
from escrow.datasets.download import Content, ContentReader
from escrow.datasets.results import Deposited
from escrow.datasets.schemas import DatasetCreate, DatasetOut, VersionOut
from escrow.datasets.service import DatasetService
from escrow.datasets.upload import DepositRequest, Upload
from escrow.errors import BadRequestError, PayloadTooLargeError
from escrow.instruments import DOWNLOAD_BYTES
from escrow.openapi import BINARY, binary_responses, documented_body
from escrow.paging import DEFAULT_PAGE_SIZE
from escrow.params import Cursor, Limit
from escrow.request_context import request_context
from escrow.schemas import PageOut
from escrow.service import Collaborators
from storage.blobs import BlobStore, BlobStoreUnavailableError
from storage.db import Database

Datasets = NamedDependency[DatasetService]

FEED_SIZE = 1 << 20  # hand the worker thread about one segment at a time
VERSION = "/{dataset_id:str}/versions/{number:int}"
# Deposits are read as a stream, so litestar cannot see the body: raw bytes, described in
# the media types the tabular engine reads (any other type is accepted and stored as bytes).
DEPOSIT_MEDIA_TYPES = (
    "application/octet-stream",
    "text/csv",
    "application/x-ndjson",
    "application/vnd.apache.parquet",
)
DEPOSIT_BODY = documented_body(dict.fromkeys(DEPOSIT_MEDIA_TYPES, BINARY), required=False)
# A download answers in the version's own media type; octet-stream first, so generators
# that take one type make the response a file.
CONTENT = binary_responses(
    {200: "The version's bytes, in its type", 206: "The requested range"},
    [*DEPOSIT_MEDIA_TYPES, "*/*"],
)


class DatasetController(Controller):
    path = "/v1/datasets"
    tags = ("datasets",)

    @post("/", sync_to_thread=True, summary="Create a dataset owned by your organization")
    def create(self, data: JSONBody[DatasetCreate], datasets: Datasets) -> DatasetOut:
        schema = msgspec.to_builtins(data.schema) if data.schema else None
        dataset = datasets.create(
            data.name, data.description, data.media_type, list(data.labels), schema
        )
        return DatasetOut.of(dataset)

    @get("/", sync_to_thread=True, summary="List the datasets you may see")
    def list_datasets(
        self, datasets: Datasets, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> PageOut[DatasetOut]:
        page = datasets.list_visible(cursor, limit)
        return PageOut([DatasetOut.of(d) for d in page.items], page.next_cursor)

    @get("/{dataset_id:str}", sync_to_thread=True, summary="Read a dataset's metadata")
    def read(self, dataset_id: FromPath[str], datasets: Datasets) -> DatasetOut:
        return DatasetOut.of(datasets.get(dataset_id))

    @post(
        "/{dataset_id:str}/withdraw",
        sync_to_thread=True,
        status_code=200,
        summary="Withdraw: no new versions, agreements or partner access",
    )
    def withdraw(self, dataset_id: FromPath[str], datasets: Datasets) -> DatasetOut:
        return DatasetOut.of(datasets.withdraw(dataset_id))

    @delete(
        "/{dataset_id:str}",
        sync_to_thread=True,
        status_code=200,
        summary="Shred: destroy every version's key and blob (irreversible)",
    )
    def shred(
        self,
        dataset_id: FromPath[str],
        datasets: Datasets,
        blobs: NamedDependency[BlobStore],
        database: NamedDependency[Database],
    ) -> DatasetOut:
        return DatasetOut.of(datasets.shred(dataset_id, blobs, database))

    @get("/{dataset_id:str}/versions", sync_to_thread=True, summary="List versions")
    def list_versions(
        self,
        dataset_id: FromPath[str],
        datasets: Datasets,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_PAGE_SIZE,
    ) -> PageOut[VersionOut]:
        page = datasets.versions(dataset_id, cursor, limit)
        return PageOut([VersionOut.of(v) for v in page.items], page.next_cursor)

    @get(VERSION, sync_to_thread=True, summary="A version's metadata and signed receipt")
    def read_version(
        self, dataset_id: FromPath[str], number: FromPath[int], datasets: Datasets
    ) -> VersionOut:
        return VersionOut.of(datasets.version(dataset_id, number))

    @post(
        "/{dataset_id:str}/versions",
        request_max_body_size=None,
        operation_class=DEPOSIT_BODY,
        status_code=201,
        summary="Deposit a new version (streamed body)",
        description="Headers: Content-Type, Idempotency-Key (optional), X-Content-SHA256 "
        "(optional, hex), X-Dataset-Schema (optional, JSON: the tabular schema this version "
        "declares, which replaces the dataset's). Answers the signed deposit receipt.",
    )
    async def deposit(
        self,
        request: Request[Any, Any, State],
        dataset_id: FromPath[str],
        depositor: NamedDependency[Depositor],
    ) -> Response[VersionOut]:
        return await _deposit(request, dataset_id, depositor)

    @put(
        "/{dataset_id:str}/versions/new",
        request_max_body_size=None,
        operation_class=DEPOSIT_BODY,
        status_code=201,
        summary="Deposit a new version (streamed body; same as POST .../versions)",
    )
    async def deposit_put(
        self,
        request: Request[Any, Any, State],
        dataset_id: FromPath[str],
        depositor: NamedDependency[Depositor],
    ) -> Response[VersionOut]:
        return await _deposit(request, dataset_id, depositor)

    @get(
        VERSION + "/content",
        summary="Download a version (streamed; Range supported; ?format=parquet converts)",
        operation_class=CONTENT,
    )
    async def content(
        self,
        request: Request[Any, Any, State],
        dataset_id: FromPath[str],
        number: FromPath[int],
        shared: NamedDependency[Collaborators],
        contents: NamedDependency[ContentReader],
        format: FromQuery[Literal["parquet"] | None] = None,
    ) -> Stream:
        ctx = request_context(request)
        range_header = request.headers.get("range")
        if_range = request.headers.get("if-range")

        def open_content() -> tuple[Content, list[bytes] | None]:
            with shared.unit_of_work(ctx) as deps:
                content = contents.open(
                    DatasetService(deps), dataset_id, number, range_header, if_range, format
                )
            return content, _whole_if_small(content)

        content, whole = await to_thread.run_sync(open_content)
        return _stream(content, whole)


def _whole_if_small(content: Content) -> list[bytes] | None:
    """A download (not a view: its closing event waits for its end) of at most FEED_SIZE,
    read whole in the hop that opened it rather than one hop per chunk and one to close.
    None for a longer one or a view: nothing of it is read here, it streams hop by hop."""
    original = content.original
    if original is None or original.length > FEED_SIZE:
        return None
    return list(content.chunks)


def _stream(content: Content, whole: list[bytes] | None) -> Stream:
    original = content.original  # None for a view or a conversion: served whole, length unknown
    headers = {"ETag": content.etag, "Accept-Ranges": "none" if original is None else "bytes"}
    status = 200
    if original is not None:
        headers["Content-Length"] = str(original.length)
        headers["X-Content-SHA256"] = original.sha256
        if (served := original.byte_range) is not None:
            status = 206
            headers["Content-Range"] = f"bytes {served.start}-{served.end - 1}/{original.size}"
    return Stream(
        _in_threads(content.chunks) if whole is None else _sent(whole),
        status_code=status,
        headers=headers,
        media_type=content.media_type,
    )


async def _sent(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
        DOWNLOAD_BYTES.inc(len(chunk))  # as _in_threads counts


async def _in_threads(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Pull a blocking iterator from worker threads, one chunk per hop."""
    try:
        while (chunk := await to_thread.run_sync(next, chunks, None)) is not None:
            yield chunk
            # Resumed once the server sent the chunk: a client that stops reading midway
            # is counted for what it got.
            DOWNLOAD_BYTES.inc(len(chunk))
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await to_thread.run_sync(close)


async def _deposit(
    request: Request[Any, Any, State], dataset_id: str, depositor: Depositor
) -> Response[VersionOut]:
    length = request.headers.get("content-length", "")
    started = await to_thread.run_sync(
        depositor.begin,
        DepositRequest(
            dataset_id=dataset_id,
            media_type=request.headers.get("content-type"),
            idempotency_key=request.headers.get("idempotency-key"),
            expected_sha256=request.headers.get("x-content-sha256"),
            declared_length=int(length) if length.isascii() and length.isdigit() else None,
            declared_schema=request.headers.get("x-dataset-schema"),
        ),
    )
    if isinstance(started, Upload):
        await _receive(request, depositor, started)
        started = await to_thread.run_sync(depositor.finish, started)
    return _deposited(started)


async def _receive(request: Request[Any, Any, State], depositor: Depositor, upload: Upload) -> None:
    """Feed the body to the upload in about-one-segment pieces; abandon it on any failure."""
    try:
        pending = bytearray()
        async for chunk in request.stream():
            pending += chunk
            if len(pending) >= FEED_SIZE:
                piece, pending = pending, bytearray()
                await to_thread.run_sync(upload.absorb, piece)
        if pending:
            await to_thread.run_sync(upload.absorb, pending)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await to_thread.run_sync(depositor.abandon, upload, _failure_reason(exc))
        if isinstance(exc, InternalServerException):
            raise BadRequestError("the client disconnected before the body was complete") from exc
        raise


def _failure_reason(exc: BaseException) -> str:
    if isinstance(exc, PayloadTooLargeError):
        return "too_large"
    if isinstance(exc, BlobStoreUnavailableError):
        return "blob_store_unavailable"
    if isinstance(exc, InternalServerException):
        return "client_disconnected"
    return "aborted"


def _deposited(result: Deposited) -> Response[VersionOut]:
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    return Response(VersionOut.of(result.version), status_code=201, headers=headers)
