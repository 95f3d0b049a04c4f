"""Domain errors, raised by services and mapped to RFC 9457 problems in one place (app.py).

EscrowError
├── ConfigError              bad ESCROW_* setting (start-up, not HTTP)
├── BadRequestError          400 malformed-request
│   └── ValidationError      422 validation-error
│       ├── JsonTooDeepError 422 json-too-deep (nesting beyond ESCROW_MAX_JSON_DEPTH)
│       ├── NulCharacterError 422 nul-character (U+0000 in text: PostgreSQL cannot store it)
│       ├── MalformedTableError 422 malformed-table (a tabular deposit that is no table)
│       └── SchemaMismatchError 422 schema-mismatch (a version unlike its dataset's schema)
├── AuthenticationError      401 unauthenticated
├── ForbiddenError           403 forbidden
├── NotFoundError            404 not-found (also for other tenants' resources)
├── ConflictError            409 conflict
│   └── InvalidStateError    409 invalid-state (illegal transition)
├── GoneError                410 gone
├── PayloadTooLargeError     413 payload-too-large
├── PreconditionFailedError  412 precondition-failed
├── RangeNotSatisfiableError 416 range-not-satisfiable
├── RateLimitedError         429 rate-limited (with Retry-After)
├── HeadersTooLargeError     431 headers-too-large
└── UnavailableError         503 unavailable (a dependency is down)
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://partner-escrow.dev/problems/"


class EscrowError(Exception):
    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers: dict[str, str] = {}  # response headers the problem carries

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.slug


class ConfigError(EscrowError):
    slug = "configuration"
    title = "Bad configuration"


class BadRequestError(EscrowError):
    status = 400
    slug = "malformed-request"
    title = "Malformed request"


class ValidationError(BadRequestError):
    status = 422
    slug = "validation-error"
    title = "Request failed validation"


class AuthenticationError(EscrowError):
    status = 401
    slug = "unauthenticated"
    title = "Authentication required or failed"


class ForbiddenError(EscrowError):
    status = 403
    slug = "forbidden"
    title = "Not allowed by policy"


class NotFoundError(EscrowError):
    status = 404
    slug = "not-found"
    title = "No such resource"


class ConflictError(EscrowError):
    status = 409
    slug = "conflict"
    title = "Conflicts with the current state"


class InvalidStateError(ConflictError):
    slug = "invalid-state"
    title = "Not allowed in the resource's current state"


class GoneError(EscrowError):
    status = 410
    slug = "gone"
    title = "Permanently gone"


class PreconditionFailedError(EscrowError):
    status = 412
    slug = "precondition-failed"
    title = "Precondition failed"


class PayloadTooLargeError(EscrowError):
    status = 413
    slug = "payload-too-large"
    title = "Request body too large"


class RangeNotSatisfiableError(EscrowError):
    status = 416
    slug = "range-not-satisfiable"
    title = "Range not satisfiable"


class JsonTooDeepError(ValidationError):
    slug = "json-too-deep"
    title = "JSON nested too deeply"


class NulCharacterError(ValidationError):
    slug = "nul-character"
    title = "Text contains a NUL character"


class MalformedTableError(ValidationError):
    slug = "malformed-table"
    title = "The body is not a well-formed table of its media type"


class SchemaMismatchError(ValidationError):
    slug = "schema-mismatch"
    title = "The version's schema differs from the dataset's"


class RateLimitedError(EscrowError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, retry_after=retry_after, **extra)
        self.headers["Retry-After"] = str(retry_after)


class HeadersTooLargeError(EscrowError):
    """RFC 6585: too many header fields, or too many bytes of them."""

    status = 431
    slug = "headers-too-large"
    title = "Request header fields too large"


class UnavailableError(EscrowError):
    status = 503
    slug = "unavailable"
    title = "A dependency is unavailable"
