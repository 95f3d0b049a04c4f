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

from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation

from escrow.auth.schemas import ClientCredentialsForm, OAuthErrorOut, RevocationForm
from escrow.openapi import PROBLEM_MEDIA_TYPE, documented_body

CLIENT_BASIC = "clientBasic"  # the security scheme app.py declares (RFC 6749 s2.3.1)
_PROBLEM_REF = {"$ref": "#/components/schemas/ProblemOut"}
_NO_STORE = {
    "Cache-Control": {"schema": {"type": "string", "const": "no-store"}},
    "Pragma": {"schema": {"type": "string", "const": "no-cache"}},
}


def _oauth_operation(
    form: type[Any], *, no_store: bool, errors: dict[int, str]
) -> tuple[type[Operation], dict[int, ResponseSpec]]:
    """The Operation class and the ``responses`` of an OAuth endpoint's handler.

    The error bodies are named components (``OAuthErrorOut``) rather than inline schemas,
    so generators make one model of them, not one per status.
    """
    base = documented_body({"application/x-www-form-urlencoded": form})
    responses = {
        status: ResponseSpec(
            data_container=OAuthErrorOut,
            media_type="application/json",
            description=description,
            generate_examples=False,
        )
        for status, description in errors.items()
    }

    class OAuthOperation(base):  # type: ignore[valid-type,misc]
        def to_schema(self) -> dict[str, Any]:
            schema: dict[str, Any] = super().to_schema()
            for status, response in schema.get("responses", {}).items():
                if status in _ALSO_PROBLEMS:
                    response.setdefault("content", {})[PROBLEM_MEDIA_TYPE] = {
                        "schema": _PROBLEM_REF
                    }
                if status == "200" and no_store:
                    response["headers"] = {**response.get("headers", {}), **_NO_STORE}
            # The client authenticates by HTTP Basic or in the form (no scheme to declare).
            schema["security"] = [{CLIENT_BASIC: []}, {}]
            return schema

    return OAuthOperation, responses


# The JSON forms and the checks before the handler answer these as problem+json.
_ALSO_PROBLEMS = frozenset({"400", "401", "429"})
TOKEN_OPERATION, TOKEN_RESPONSES = _oauth_operation(
    ClientCredentialsForm,
    no_store=True,
    errors={
        400: "RFC 6749 invalid_request or unsupported_grant_type (problem+json for JSON bodies)",
        401: "RFC 6749 invalid_client, with WWW-Authenticate (the same for every bad key)",
        429: "Too many attempts (RFC 6749 slow_down): retry after the Retry-After seconds",
    },
)
REVOKE_OPERATION, REVOKE_RESPONSES = _oauth_operation(
    RevocationForm,
    no_store=False,
    errors={
        400: "RFC 6749 invalid_request, or unauthorized_client for another's token",
        401: "RFC 6749 invalid_client, or no valid bearer token for the JSON form",
        429: "Too many client authentication attempts: retry after Retry-After seconds",
    },
)
