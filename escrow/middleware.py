"""ASGI middleware: request ids, and bearer-token authentication on pyjwt (EdDSA)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from anyio import to_thread
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from escrow.auth.service import remembered_owner
from escrow.components import Components
from escrow.context import RequestContext

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
PUBLIC_PATHS = ["^/health/", "^/schema", "^/.well-known/", "^/metrics$", "^/v1/keys/signing$"]


class RequestIdMiddleware:
    """Takes a well-formed X-Request-ID from the caller or makes one; echoes it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        supplied = dict(scope["headers"]).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = supplied if _VALID_REQUEST_ID.match(supplied) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """Every request outside PUBLIC_PATHS needs a valid access token; failures are audited."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        components: Components = connection.app.state.components
        authentication = components.authentication
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        ctx = RequestContext(
            request_id=connection.scope.get("state", {}).get("request_id", "-"),
            client_ip=connection.client.host if connection.client else None,
        )

        def authenticate() -> Any:
            with authentication.unit_of_work(ctx) as service:
                if scheme.lower() != "bearer" or not token.strip():
                    service.reject_missing_token()
                return service.authenticate(token.strip())

        # A token whose owner this process remembers needs no database, hence no thread.
        actor = None
        if scheme.lower() == "bearer" and token.strip():
            actor = remembered_owner(
                token.strip(),
                ctx.client_ip,
                authentication.tokens,
                authentication.owners,
                authentication.failures,
                authentication.clock,
            )
        if actor is None:
            actor = await to_thread.run_sync(authenticate)
        return AuthenticationResult(user=actor, auth=token)
