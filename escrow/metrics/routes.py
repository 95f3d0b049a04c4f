"""HTTP for operational metrics: the Prometheus text exposition."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State

from escrow.metrics.scrape import MEDIA_TYPE, Scrape
from escrow.openapi import problem_spec
from escrow.request_context import request_context


@get(
    "/metrics",
    sync_to_thread=True,
    media_type=MEDIA_TYPE,
    security=[{}],  # OpenAPI for: no access token (ESCROW_METRICS_TOKEN, if set, instead)
    responses={401: problem_spec("ESCROW_METRICS_TOKEN is set and was not presented")},
    summary="Prometheus metrics (text exposition format)",
    tags=["ops"],
)
def metrics(request: Request[Any, Any, State]) -> Response[bytes]:
    components = request.app.state.components  # the app's collaborators (escrow.app)
    settings = components.settings
    scrape = Scrape(
        settings.metrics_token,
        components.db,
        components.audit,
        components.clock,
        settings.metrics_dir,
    )
    body = scrape.render(request_context(request), request.headers.get("authorization"))
    return Response(body, media_type=MEDIA_TYPE)
