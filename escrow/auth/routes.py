"""HTTP for authentication: token exchange, JWKS, revocation, and "who am I"."""

from __future__ import annotations

from typing import Any

import msgspec
from anyio import to_thread
from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.params import JSONBody

from escrow.auth.schemas import (
    ClientCredentialsForm,
    RevokeRequest,
    TokenOut,
    TokenRequest,
    WhoAmIOut,
)
from escrow.errors import BadRequestError, ValidationError
from escrow.input_limits import check_json_depth
from escrow.openapi import documented_body, problem_spec
from escrow.schemas import Deps
from escrow.wiring import Components, auth_service, request_context

MAX_TOKEN_BODY = 4096
TOKEN_BODY = documented_body(
    {"application/json": TokenRequest, "application/x-www-form-urlencoded": ClientCredentialsForm}
)


class AuthController(Controller):
    path = "/v1/auth"
    tags = ("authentication",)

    @post(
        "/token",
        status_code=200,
        exclude_from_auth=True,
        request_max_body_size=MAX_TOKEN_BODY,
        summary="Exchange an API key for an access token",
        description="JSON {key_id, secret}, or an OAuth 2.0 client-credentials form. "
        "Rate limited per client address and per key id (429 with Retry-After).",
        operation_class=TOKEN_BODY,
        responses={
            401: problem_spec("Unknown, wrong, revoked or expired key (the same answer for all)"),
            429: problem_spec("Too many attempts: retry after the Retry-After seconds"),
        },
    )
    async def token(self, request: Request[Any, Any, State]) -> TokenOut:
        key_id, secret = await _credentials(request)
        components: Components = request.app.state.components

        def exchange() -> TokenOut:
            with components.db.session() as session:
                service = auth_service(components, session, request_context(request))
                issued = service.exchange_key(key_id, secret)
            return TokenOut(issued.access_token, issued.expires_in)

        return await to_thread.run_sync(exchange)

    @post("/revoke", status_code=200, sync_to_thread=True, summary="Revoke an access token")
    def revoke(
        self, data: JSONBody[RevokeRequest], deps: Deps, request: Request[Any, Any, State]
    ) -> dict[str, str]:
        components: Components = request.app.state.components
        auth_service(components, deps.session, deps.ctx).revoke(deps.guard, data.token)
        return {"status": "revoked"}

    @get("/whoami", summary="The authenticated principal")
    async def whoami(self, request: Request[Any, Any, State]) -> WhoAmIOut:
        actor = request_context(request).principal
        return WhoAmIOut(
            actor.id, actor.org_slug, actor.org_id, actor.kind, list(actor.roles), actor.key_id
        )


async def _credentials(request: Request[Any, Any, State]) -> tuple[str, str]:
    media_type = request.content_type[0]
    if media_type == "application/x-www-form-urlencoded":
        form = await request.form()
        fields = {key: form.get(key) for key in form}
        try:
            creds = msgspec.convert(fields, ClientCredentialsForm)
        except msgspec.ValidationError as exc:
            raise ValidationError(str(exc)) from None
        return creds.client_id, creds.client_secret
    if media_type != "application/json":
        raise BadRequestError("send JSON {key_id, secret} or a client-credentials form")
    components: Components = request.app.state.components
    body_bytes = await request.body()
    check_json_depth(body_bytes, components.settings.input_limits.max_json_depth)
    try:
        body = msgspec.json.decode(body_bytes, type=TokenRequest)
    except msgspec.ValidationError as exc:
        raise ValidationError(str(exc)) from None
    except msgspec.DecodeError:
        raise BadRequestError("request body is not valid JSON") from None
    return body.key_id, body.secret
