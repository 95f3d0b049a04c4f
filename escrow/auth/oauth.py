"""OAuth 2.0 at the token and revocation endpoints: client authentication and error bodies.

RFC 6749 s2.3.1: a client authenticates with HTTP Basic (``client_secret_basic``, which
servers must support; id and secret form-urlencoded, then base64) or with ``client_id`` and
``client_secret`` in the form body (``client_secret_post``), never both in one request.
Errors are RFC 6749 s5.2 JSON bodies, ``{"error", "error_description"}``, not problem+json:
that is what OAuth clients parse. Pure: no litestar, so the rules are tested on their own.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote_plus

from escrow.errors import (
    AuthenticationError,
    BadRequestError,
    EscrowError,
    ForbiddenError,
    RateLimitedError,
)

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
_CLIENT = ("client_id", "client_secret")
TOKEN_PARAMETERS = frozenset({"grant_type", "scope", *_CLIENT})
REVOCATION_PARAMETERS = frozenset({"token", "token_type_hint", *_CLIENT})
CLIENT_CREDENTIALS = "client_credentials"
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
# What a token response must not be: cached (RFC 6749 s5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
BASIC_CHALLENGE = 'Basic realm="partner-escrow"'
# Key ids and secrets this API issues are visible ASCII; anything else cannot be one.
_KEY_ID = re.compile(r"^[\x21-\x7e]{1,64}$")
_SECRET = re.compile(r"^[\x21-\x7e]{1,256}$")


@dataclass
class OAuthError(Exception):
    """An RFC 6749 s5.2 error: ``error`` is one of the registered codes."""

    error: str
    description: str
    status: int = 400
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.description)
        if self.status == 401:  # RFC 6749 s5.2: 401 carries the scheme the client may use
            self.headers.setdefault("WWW-Authenticate", BASIC_CHALLENGE)

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def invalid_client(description: str = "client authentication failed") -> OAuthError:
    return OAuthError("invalid_client", description, 401)


def as_oauth_error(exc: EscrowError) -> OAuthError | None:
    """The RFC 6749 code for a domain error; None for those OAuth has no word for (5xx)."""
    if isinstance(exc, AuthenticationError):
        return invalid_client()
    if isinstance(exc, RateLimitedError):
        # "slow_down" is registered for token endpoint responses (RFC 8628 s3.5).
        return OAuthError("slow_down", exc.detail, 429, dict(exc.headers))
    if isinstance(exc, ForbiddenError):
        return OAuthError("unauthorized_client", "this client may not revoke that token")
    if isinstance(exc, BadRequestError):
        return invalid_request(exc.detail)
    return None


def parse_form(body: bytes, known: frozenset[str]) -> dict[str, str]:
    """The ``known`` parameters of a form body; others are ignored (RFC 6749 s3.2).

    Fails closed: a body that is not UTF-8 form data, or repeats a known parameter, is refused.
    """
    try:
        text = body.decode("utf-8")
        # The route's body limit (a few KiB) bounds the number of fields.
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError):
        raise invalid_request("the body is not application/x-www-form-urlencoded") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name not in known:
            continue
        if name in form:  # RFC 6749 s3.2: parameters must not be included more than once
            raise invalid_request(f"the parameter {name!r} is repeated")
        form[name] = value
    return form


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: str
    method: str  # one of AUTH_METHODS


def client_credentials(authorization: str | None, form: dict[str, str]) -> ClientCredentials:
    """The client's id and secret, from exactly one of the Basic header and the form body."""
    scheme, _, value = (authorization or "").partition(" ")
    in_body = "client_secret" in form
    if scheme.lower() == "basic":
        if in_body:
            raise invalid_request("use one client authentication method, not two")
        client_id, secret = _basic(value.strip())
        if form.get("client_id", client_id) != client_id:
            raise invalid_request("client_id differs from the authenticated client")
        return _checked(client_id, secret, "client_secret_basic")
    if authorization:
        raise invalid_client("unsupported authorization scheme; use Basic or the form body")
    if not in_body or "client_id" not in form:
        raise invalid_client("client authentication is required")
    return _checked(form["client_id"], form["client_secret"], "client_secret_post")


def required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise invalid_request(f"the parameter {name!r} is required")
    return value


def check_grant_type(form: dict[str, str]) -> None:
    grant_type = required(form, "grant_type")
    if grant_type != CLIENT_CREDENTIALS:
        raise OAuthError("unsupported_grant_type", "only client_credentials is supported")


def _basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise invalid_client("the Basic credentials are not base64 of id:secret") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise invalid_client("the Basic credentials are not base64 of id:secret")
    # RFC 6749 s2.3.1: both were form-urlencoded before they were joined.
    return unquote_plus(client_id), unquote_plus(secret)


def _checked(client_id: str, secret: str, method: str) -> ClientCredentials:
    """Malformed credentials cannot name a key: refused before any lookup (and unaudited)."""
    if not _KEY_ID.match(client_id) or not _SECRET.match(secret):
        raise invalid_request("client_id or client_secret is malformed or too long")
    return ClientCredentials(client_id, secret, method)
