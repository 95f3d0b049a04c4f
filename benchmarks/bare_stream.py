"""A bare litestar app under uvicorn: the HTTP ceiling the escrow endpoints are compared to.

GET /bytes/{mib}  streams mib MiB from memory;  POST /sink  reads and drops the body.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from litestar import Litestar, Request, get, post
from litestar.response import Stream

_BLOCK = os.urandom(1 << 20)


@get("/bytes/{mib:int}")
async def send_bytes(mib: int) -> Stream:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(mib):
            yield _BLOCK

    return Stream(chunks(), media_type="application/octet-stream")


@post("/sink", request_max_body_size=None, status_code=204)
async def sink(request: Request) -> None:  # type: ignore[type-arg]
    async for _ in request.stream():
        pass


app = Litestar([send_bytes, sink])
