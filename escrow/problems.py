"""Every error leaves as RFC 9457 problem+json with a stable ``type`` and the request id."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    InternalServerException,
    NotAuthorizedException,
    ValidationException,
)
from litestar.plugins.problem_details import ProblemDetailsException
from sqlalchemy.exc import DBAPIError, OperationalError

from crypto import KeyringError
from escrow.errors import PROBLEM_BASE, AuthenticationError, EscrowError
from storage.blobs import BlobStoreUnavailableError

log = logging.getLogger("escrow")

_HTTP_SLUGS = {
    400: ("malformed-request", "Malformed request"),
    401: ("unauthenticated", "Authentication required or failed"),
    403: ("forbidden", "Not allowed by policy"),
    404: ("not-found", "No such resource"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("rate-limited", "Too many requests"),
    431: ("headers-too-large", "Request header fields too large"),
    503: ("unavailable", "A dependency is unavailable"),
}
_RESERVED = {"type", "title", "status", "detail", "instance", "request_id"}


def problem_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    problem = to_problem(exc)
    if request.url.path.startswith(SHARING_PREFIX):
        return sharing_error(request, problem, exc)
    problem.extra = {
        **{k: v for k, v in dict(problem.extra or {}).items() if k not in _RESERVED},
        "request_id": request.scope.get("state", {}).get("request_id", "-"),
    }
    headers = {**(problem.headers or {}), "X-Request-ID": problem.extra["request_id"]}
    if problem.status_code == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="partner-escrow"'
    problem.headers = headers
    return problem.to_response(request)


def to_problem(exc: Exception) -> ProblemDetailsException:
    exc = _body_error(exc) or exc
    if isinstance(exc, EscrowError):
        return _problem(exc.status, exc.slug, exc.title, exc.detail, exc.extra, exc.headers)
    if isinstance(exc, ValidationException):
        extra = {"errors": exc.extra} if exc.extra else None
        if _exceeds_a_limit(exc):
            return _problem(422, "validation-error", "Validation failed", exc.detail, extra)
        return _problem(400, "malformed-request", "Malformed request", exc.detail, extra)
    if isinstance(exc, NotAuthorizedException):
        return to_problem(AuthenticationError(exc.detail))
    if isinstance(exc, ProblemDetailsException):
        return exc
    if isinstance(exc, HTTPException):
        slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
        return _problem(exc.status_code, slug, title, exc.detail, None, exc.headers)
    unavailable = _dependency_problem(exc)
    if unavailable is not None:
        return unavailable
    log.exception("unhandled error", exc_info=exc)
    return _problem(
        500,
        "internal-error",
        "Internal error",
        "the server failed to handle this request; it has been logged",
        None,
    )


def _dependency_problem(exc: Exception) -> ProblemDetailsException | None:
    """503 for a dependency that is down (blob store, database) or a key that is missing."""
    if isinstance(exc, BlobStoreUnavailableError):
        log.warning("blob store unavailable: %s", exc)
        return _problem(
            503,
            "unavailable",
            "A dependency is unavailable",
            "the blob store is unavailable; retry shortly",
            {"dependency": "blobs"},
            {"Retry-After": "5"},
        )
    if isinstance(exc, KeyringError):
        log.error("key unavailable: %s", exc)
        return _problem(
            503,
            "key-unavailable",
            "A key is unavailable",
            "the key that protects this data is not in the keyring",
            None,
        )
    if isinstance(exc, OperationalError | DBAPIError) and _is_connection_error(exc):
        log.warning("database unavailable: %s", exc)
        return _problem(
            503,
            "unavailable",
            "A dependency is unavailable",
            "the database is unavailable; retry shortly",
            None,
            {"Retry-After": "5"},
        )
    return None


SHARING_PREFIX = "/delta-sharing/"
# The Delta Sharing protocol's error codes (its reference server's), by HTTP status.
_SHARING_CODES = {
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    405: "UNSUPPORTED_OPERATION",
    416: "INVALID_PARAMETER_VALUE",
    429: "RESOURCE_EXHAUSTED",
    503: "TEMPORARILY_UNAVAILABLE",
}


def sharing_error(
    request: Request[Any, Any, Any], problem: ProblemDetailsException, exc: Exception
) -> Response[Any]:
    """The protocol's ``{"errorCode", "message"}`` body, with the problem's status."""
    status = problem.status_code
    code = _SHARING_CODES.get(
        status, "INTERNAL_ERROR" if status >= 500 else "INVALID_PARAMETER_VALUE"
    )
    if status == 400 and not isinstance(exc, EscrowError):  # a body or query we cannot decode
        code = "MALFORMED_REQUEST"
    if status == 422:  # a value outside its bounds: the protocol has no 422
        status = 400
    message = problem.detail if status < 500 else "the server failed to handle this request"
    headers = {
        **(problem.headers or {}),
        "X-Request-ID": request.scope.get("state", {}).get("request_id", "-"),
    }
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="delta-sharing"'
    body = None if request.method == "HEAD" else {"errorCode": code, "message": message or ""}
    return Response(body, status_code=status, headers=headers, media_type="application/json")


# msgspec's words for a well-formed value outside a declared bound (a length, a range, a
# pattern): those are 422 like the services' own checks; wrong types and shapes stay 400.
_LIMIT_MESSAGE = re.compile(r"Expected `\w+` (?:of length [<>]=|[<>]=? |matching )")


# Where msgspec places an error inside the request body while litestar parses a handler's
# arguments: ``Expected `array`, got `int` - at `$.data.orgs```.
_BODY_ERROR = re.compile(r"^(?P<message>.*?) - at `\$\.data\.(?P<key>.+)`$")


def _body_error(exc: Exception) -> ValidationException | None:
    """The client's error behind a 500 that litestar raises for a body field named like a
    dependency (``orgs``): it takes the field's error for the dependency's and gives up."""
    cause = exc.__cause__
    if not isinstance(exc, InternalServerException) or not isinstance(
        cause, msgspec.ValidationError
    ):
        return None
    found = _BODY_ERROR.match(str(cause))
    if found is None:
        return None
    error = {"message": found["message"], "key": found["key"], "source": "body"}
    return ValidationException(detail="Validation failed for the request body", extra=[error])


def _exceeds_a_limit(exc: ValidationException) -> bool:
    messages = [exc.detail or ""]
    if isinstance(exc.extra, list):
        messages += [str(e.get("message", "")) for e in exc.extra if isinstance(e, dict)]
    return any(_LIMIT_MESSAGE.search(message) for message in messages)


def _is_connection_error(exc: DBAPIError) -> bool:
    return bool(exc.connection_invalidated) or isinstance(exc, OperationalError)


def _problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    extra: dict[str, Any] | None,
    headers: dict[str, str] | None = None,
) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=status,
        type_=PROBLEM_BASE + slug,
        title=title,
        detail=detail,
        extra=dict(extra or {}),
        headers=headers,
    )
