"""The composition root: builds the Litestar app and wires services, stores and policies."""

from __future__ import annotations

from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin, SQLAlchemySyncConfig
from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components as OpenAPIComponents
from litestar.openapi.spec import SecurityScheme
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin

from crypto import Keyring
from escrow import __version__
from escrow.audit.log import AuditLog
from escrow.auth.routes import AuthController
from escrow.auth.tokens import TokenAuthority
from escrow.clock import Clock, SystemClock
from escrow.config import Settings
from escrow.errors import UnavailableError
from escrow.ids import IdFactory, Uuid7Factory
from escrow.members.routes import members_router, service_accounts_router
from escrow.middleware import PUBLIC_PATHS, BearerAuthMiddleware, RequestIdMiddleware
from escrow.orgs.routes import OrgController
from escrow.partnerships.routes import PartnershipController
from escrow.policy.engine import PolicyEngine
from escrow.problems import problem_response
from escrow.wiring import Components, provide_deps
from storage.db import Database


def build_components(
    settings: Settings,
    *,
    clock: Clock | None = None,
    new_id: IdFactory | None = None,
    db: Database | None = None,
) -> Components:
    clock = clock or SystemClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings.keyring_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    keyring = Keyring.load_or_create(settings.keyring_path)
    token_key = keyring.token_signing_key
    return Components(
        settings=settings,
        db=db or Database(settings.database_url),
        clock=clock,
        new_id=new_id or Uuid7Factory(clock),
        audit=AuditLog(clock),
        policy=PolicyEngine.from_directory(settings.policies_dir),
        tokens=TokenAuthority(
            token_key.private_key,
            token_key.kid,
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            ttl_seconds=settings.token_ttl,
            clock=clock,
        ),
    )


@get("/health/live", summary="Liveness", tags=["ops"])
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get("/health/ready", summary="Readiness: the database answers", tags=["ops"], sync_to_thread=True)
def ready(request: Request[Any, Any, State]) -> dict[str, str]:
    components: Components = request.app.state.components
    try:
        components.db.ping()
    except Exception as exc:
        raise UnavailableError("the database does not answer", dependency="database") from exc
    return {"status": "ready"}


@get("/.well-known/jwks.json", summary="Public keys that verify access tokens", tags=["auth"])
async def jwks(request: Request[Any, Any, State]) -> dict[str, Any]:
    components: Components = request.app.state.components
    return components.tokens.jwks()


def create_app(components: Components) -> Litestar:
    settings = components.settings
    sqlalchemy = SQLAlchemySyncConfig(
        engine_instance=components.db.engine,
        session_maker=components.db.sessionmaker,
        session_dependency_key="db_session",
    )
    problems = ProblemDetailsConfig(
        exception_handler=problem_response,
    )
    return Litestar(
        route_handlers=[
            live,
            ready,
            jwks,
            AuthController,
            OrgController,
            members_router,
            service_accounts_router,
            PartnershipController,
        ],
        dependencies={"deps": Provide(provide_deps, sync_to_thread=False)},
        plugins=[SQLAlchemyPlugin(config=sqlalchemy), ProblemDetailsPlugin(problems)],
        middleware=[
            RequestIdMiddleware,
            DefineMiddleware(BearerAuthMiddleware, exclude=PUBLIC_PATHS),
        ],
        exception_handlers={Exception: problem_response},
        request_max_body_size=settings.max_body_bytes,
        state=State({"components": components}),
        openapi_config=OpenAPIConfig(
            title="Partner Escrow",
            version=__version__,
            path="/schema",
            components=OpenAPIComponents(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
            security=[{"bearer": []}],
        ),
        debug=False,
    )
