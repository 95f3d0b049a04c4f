"""How the OAuth endpoints read in the OpenAPI document, for people and for generators.

The token and revocation handlers read their bodies themselves, so litestar cannot see them.
Only the OAuth form is described as the body: a body with two media types made
openapi-python-client emit a module that does not import. The JSON forms of DESIGN s10 stay
accepted and are named in the operations' descriptions. Errors are RFC 6749 JSON for OAuth
clients and problem+json for the JSON forms and the limits checked before the handler, so
each error status lists both.
"""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import Operation

from escrow.auth.schemas import (
    ClientCredentialsForm,
    OAuthErrorOut,
    RevocationForm,
    RevokedOut,
    TokenOut,
)
from escrow.openapi import PROBLEM_MEDIA_TYPE, documented_body, inline_schema

CLIENT_BASIC = "clientBasic"  # the security scheme app.py declares (RFC 6749 s2.3.1)
_PROBLEM_REF = {"$ref": "#/components/schemas/ProblemOut"}
_NO_STORE = {
    "Cache-Control": {"schema": {"type": "string", "const": "no-store"}},
    "Pragma": {"schema": {"type": "string", "const": "no-cache"}},
}


def _oauth_operation(
    form: type[Any], success: type[Any], *, no_store: bool, errors: dict[int, str]
) -> type[Operation]:
    base = documented_body({"application/x-www-form-urlencoded": form})
    ok: dict[str, Any] = {
        "description": "Success",
        "content": {"application/json": {"schema": inline_schema(success)}},
    }
    if no_store:
        ok["headers"] = _NO_STORE
    oauth_error = {"schema": inline_schema(OAuthErrorOut)}

    class OAuthOperation(base):  # type: ignore[valid-type,misc]
        def to_schema(self) -> dict[str, Any]:
            schema: dict[str, Any] = super().to_schema()
            responses = schema.setdefault("responses", {})
            responses["200"] = ok
            for status, description in errors.items():
                responses[str(status)] = {
                    "description": description,
                    "content": {
                        "application/json": oauth_error,
                        PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF},
                    },
                }
            # The client authenticates by HTTP Basic or in the form (no scheme to declare).
            schema["security"] = [{CLIENT_BASIC: []}, {}]
            return schema

    return OAuthOperation


TOKEN_OPERATION = _oauth_operation(
    ClientCredentialsForm,
    TokenOut,
    no_store=True,
    errors={
        400: "RFC 6749 invalid_request or unsupported_grant_type (problem+json for JSON bodies)",
        401: "RFC 6749 invalid_client, with WWW-Authenticate (the same for every bad key)",
        422: "A JSON body {key_id, secret} that does not fit its schema",
        429: "Too many attempts (RFC 6749 slow_down): retry after the Retry-After seconds",
    },
)
REVOKE_OPERATION = _oauth_operation(
    RevocationForm,
    RevokedOut,
    no_store=False,
    errors={
        400: "RFC 6749 invalid_request, or unauthorized_client for another's token",
        401: "RFC 6749 invalid_client, or no valid bearer token for the JSON form",
        403: "JSON form: not the token's owner nor an admin of its organization",
        422: "A JSON body {token} that does not fit its schema",
        429: "Too many client authentication attempts: retry after Retry-After seconds",
    },
)
