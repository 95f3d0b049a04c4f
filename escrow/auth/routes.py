"""HTTP for authentication: token exchange, revocation, OAuth metadata and "who am I".

The token and revocation endpoints speak OAuth 2.0 (RFC 6749, RFC 7009) to OAuth clients, with
RFC 6749 error bodies, and keep the JSON forms of DESIGN s10 (problem+json errors) for the
clients written against them. A request is OAuth's when it is a form or carries HTTP Basic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import msgspec
from anyio import to_thread
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency

from escrow.auth import oauth
from escrow.auth.authentication import Authentication
from escrow.auth.openapi import (
    REVOKE_OPERATION,
    REVOKE_RESPONSES,
    TOKEN_OPERATION,
    TOKEN_RESPONSES,
)
from escrow.auth.schemas import (
    AuthorizationServerMetadata,
    RevokedOut,
    RevokeRequest,
    TokenOut,
    TokenRequest,
    WhoAmIOut,
)
from escrow.context import Actor, RequestContext
from escrow.errors import BadRequestError, EscrowError, ValidationError
from escrow.input_limits import check_json_depth
from escrow.request_context import request_context
from escrow.settings import Settings

MAX_TOKEN_BODY = 4096
MAX_REVOKE_BODY = 8192
_Body = TypeVar("_Body", TokenRequest, RevokeRequest)


def oauth_error_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """RFC 6749 s5.2: the error body OAuth clients parse, never cached."""
    assert isinstance(exc, oauth.OAuthError)  # noqa: S101 - registered for OAuthError only
    return Response(
        exc.body(),
        status_code=exc.status,
        media_type="application/json",
        headers={**oauth.NO_STORE, **exc.headers},
    )


class AuthController(Controller):
    path = "/v1/auth"
    tags = ("authentication",)
    exception_handlers = {oauth.OAuthError: oauth_error_response}  # noqa: RUF012 - litestar API

    @post(
        "/token",
        status_code=200,
        exclude_from_auth=True,
        request_max_body_size=MAX_TOKEN_BODY,
        summary="OAuth 2.0 token endpoint (client credentials)",
        description="RFC 6749 client credentials: a form with grant_type=client_credentials, "
        "the client (API key id and secret) authenticated by HTTP Basic or by client_id and "
        "client_secret in the form; errors are RFC 6749 JSON. The JSON body {key_id, secret} "
        "is also accepted (errors as problem+json). Rate limited per client address and per "
        "key id (429 with Retry-After).",
        operation_class=TOKEN_OPERATION,
        responses=TOKEN_RESPONSES,
    )
    async def token(
        self,
        request: Request[Any, Any, State],
        authentication: NamedDependency[Authentication],
        settings: NamedDependency[Settings],
    ) -> Response[TokenOut]:
        if _speaks_oauth(request):
            form = oauth.parse_form(await request.body(), oauth.TOKEN_PARAMETERS)
            oauth.check_grant_type(form)
            client = oauth.client_credentials(request.headers.get("authorization"), form)
            key_id, secret = client.client_id, client.client_secret
        else:
            key_id, secret = await _json_credentials(request, settings)

        def exchange() -> TokenOut:
            with authentication.unit_of_work(request_context(request)) as service:
                issued = service.exchange_key(key_id, secret)
            return TokenOut(issued.access_token, issued.expires_in)

        with _in_oauth_terms(_speaks_oauth(request)):
            issued = await to_thread.run_sync(exchange)
        return Response(issued, headers=oauth.NO_STORE)

    @post(
        "/revoke",
        status_code=200,
        exclude_from_auth=True,  # authenticates itself: a bearer token or OAuth client auth
        request_max_body_size=MAX_REVOKE_BODY,
        summary="Revoke an access token (RFC 7009)",
        description="RFC 7009: a form with token (and token_type_hint), the client "
        "authenticated by HTTP Basic or client_id and client_secret in the form; or a bearer "
        "token with the JSON body {token}. The token's owner, or an admin of its "
        "organization, may revoke it; an unknown or invalid token also answers 200.",
        operation_class=REVOKE_OPERATION,
        responses=REVOKE_RESPONSES,
    )
    async def revoke(
        self,
        request: Request[Any, Any, State],
        authentication: NamedDependency[Authentication],
        settings: NamedDependency[Settings],
    ) -> RevokedOut:
        ctx = request_context(request)
        if _speaks_oauth(request):
            form = oauth.parse_form(await request.body(), oauth.REVOCATION_PARAMETERS)
            token = oauth.required(form, "token")
            client = oauth.client_credentials(request.headers.get("authorization"), form)

            def authenticate() -> Actor:
                with authentication.unit_of_work(ctx) as service:
                    return service.authenticate_client(client.client_id, client.client_secret)

        else:
            bearer = _bearer(request)

            def authenticate() -> Actor:  # as the middleware does for other routes
                with authentication.unit_of_work(ctx) as service:
                    if bearer is None:
                        service.reject_missing_token()
                    return service.authenticate(bearer)

        with _in_oauth_terms(_speaks_oauth(request)):
            actor = await to_thread.run_sync(authenticate)
            if not _speaks_oauth(request):
                token = (await _json_body(request, RevokeRequest, settings)).token
            acting = RequestContext(ctx.request_id, actor, ctx.client_ip)

            def revoke() -> None:
                with authentication.unit_of_work(acting) as service:
                    service.revoke(authentication.guard, token)

            await to_thread.run_sync(revoke)
        return RevokedOut()

    @get("/whoami", summary="The authenticated principal")
    async def whoami(self, request: Request[Any, Any, State]) -> WhoAmIOut:
        actor = request_context(request).principal
        return WhoAmIOut(
            actor.id, actor.org_slug, actor.org_id, actor.kind, list(actor.roles), actor.key_id
        )


@contextmanager
def _in_oauth_terms(active: bool) -> Iterator[None]:
    """Re-raises domain errors as RFC 6749 errors for OAuth clients; others pass unchanged."""
    try:
        yield
    except EscrowError as exc:
        error = oauth.as_oauth_error(exc) if active else None
        if error is None:
            raise
        raise error from exc


def _speaks_oauth(request: Request[Any, Any, State]) -> bool:
    scheme = request.headers.get("authorization", "").partition(" ")[0].lower()
    return request.content_type[0] == oauth.FORM_MEDIA_TYPE or scheme == "basic"


def _bearer(request: Request[Any, Any, State]) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _json_credentials(
    request: Request[Any, Any, State], settings: Settings
) -> tuple[str, str]:
    if request.content_type[0] != "application/json":
        raise BadRequestError("send a client-credentials form or JSON {key_id, secret}")
    body = await _json_body(request, TokenRequest, settings)
    return body.key_id, body.secret


async def _json_body(
    request: Request[Any, Any, State], shape: type[_Body], settings: Settings
) -> _Body:
    body_bytes = await request.body()
    check_json_depth(body_bytes, settings.input_limits.max_json_depth)
    try:
        return msgspec.json.decode(body_bytes, type=shape)
    except msgspec.ValidationError as exc:
        raise ValidationError(str(exc)) from None
    except msgspec.DecodeError:
        raise BadRequestError("request body is not valid JSON") from None


@get(
    "/.well-known/oauth-authorization-server",
    summary="OAuth 2.0 authorization server metadata (RFC 8414)",
    tags=["authentication"],
)
async def oauth_metadata(settings: NamedDependency[Settings]) -> AuthorizationServerMetadata:
    """Endpoints under the token issuer (ESCROW_TOKEN_ISSUER, the service's public URL)."""
    issuer = settings.token_issuer
    base = issuer.rstrip("/")
    return AuthorizationServerMetadata(
        issuer=issuer,
        token_endpoint=f"{base}/v1/auth/token",
        revocation_endpoint=f"{base}/v1/auth/revoke",
        jwks_uri=f"{base}/.well-known/jwks.json",
        grant_types_supported=[oauth.CLIENT_CREDENTIALS],
        token_endpoint_auth_methods_supported=list(oauth.AUTH_METHODS),
        revocation_endpoint_auth_methods_supported=list(oauth.AUTH_METHODS),
        response_types_supported=[],
        service_documentation=f"{base}/schema",
    )
