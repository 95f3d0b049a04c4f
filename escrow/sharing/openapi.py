"""How the Delta Sharing endpoints are described in OpenAPI: their media types and the
protocol's own error body, which replaces problem details under /delta-sharing/."""

from __future__ import annotations

from typing import Any

from litestar.openapi.datastructures import ResponseSpec

from escrow.sharing.schemas import ProtocolError

NDJSON = "application/x-ndjson; charset=utf-8"
PARQUET = "application/vnd.apache.parquet"
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
