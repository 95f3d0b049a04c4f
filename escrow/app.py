"""The composition root: builds the Litestar app and wires services, stores and policies."""

from __future__ import annotations

import base64
from functools import partial
from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components as OpenAPIComponents
from litestar.openapi.spec import SecurityScheme
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin

from crypto import KeyManager
from escrow import __version__
from escrow.agreements.lifecycle import Lifecycle
from escrow.agreements.lifecycle import sweep as sweep_agreements
from escrow.agreements.queries import as_resource as agreement_resource
from escrow.agreements.routes import AgreementController
from escrow.agreements.service import agreement_statuses
from escrow.audit.checkpoints import CheckpointIssuer, default_origin
from escrow.audit.log import AuditLog, writes_nothing
from escrow.audit.trail import AuditTrail, checkpoint_schedule, integration_schedule
from escrow.auditing.routes import AuditController
from escrow.auth.authentication import Authentication
from escrow.auth.buckets import CLEANUP_SECONDS, bucket_store, forget_full_buckets
from escrow.auth.cache import AuthCache
from escrow.auth.failures import BearerFailures
from escrow.auth.openapi import CLIENT_BASIC
from escrow.auth.rate_limit import TokenRateLimits
from escrow.auth.routes import AuthController, oauth_metadata
from escrow.auth.tokens import TokenAuthority
from escrow.clock import Clock, SystemClock
from escrow.components import Components
from escrow.config import load_settings
from escrow.datasets.download import ContentReader
from escrow.datasets.queries import as_resource as dataset_resource
from escrow.datasets.routes import DatasetController
from escrow.datasets.schemas import SigningKeyOut
from escrow.docs import SCHEMA_PATH, render_plugins, swagger_assets
from escrow.ecosystem.routes import EcosystemController
from escrow.errors import UnavailableError
from escrow.guard import Guard
from escrow.ids import IdFactory, Uuid7Factory
from escrow.input_limits import InputLimitMiddleware, LimitedRequest
from escrow.keys.configured import open_key_manager
from escrow.members.routes import members_router, service_accounts_router
from escrow.memory import return_freed_memory
from escrow.metrics.audit_appends import count_audit_appends
from escrow.metrics.latency import RequestLatencyMiddleware
from escrow.metrics.routes import metrics
from escrow.middleware import PUBLIC_PATHS, BearerAuthMiddleware, RequestIdMiddleware
from escrow.openapi import ClosedStructSchema, ProblemResponses
from escrow.orgs.queries import as_resource as org_resource
from escrow.orgs.routes import OrgController
from escrow.overlaps.compute import OverlapCache, OverlapComputer, forget_shredded
from escrow.overlaps.notices import INTERVAL_SECONDS, OverlapNotices
from escrow.overlaps.routes import overlaps_router
from escrow.params import refuse_repeated_parameters
from escrow.partnerships.queries import as_resource as partnership_resource
from escrow.partnerships.routes import PartnershipController
from escrow.policy.facts import PolicyFacts
from escrow.policy.routes import AuthzController, PolicyController
from escrow.policy.store import PolicyStore, policy_reload_schedule
from escrow.problems import problem_response
from escrow.schedule import every
from escrow.service import Collaborators
from escrow.settings import Settings
from escrow.sharing.files import FileStore, ends_a_release, prune_after
from escrow.sharing.protocol import SharingServer
from escrow.sharing.routes import PREFIX as SHARING_PREFIX
from escrow.sharing.routes import profiles_router, protocol_router
from escrow.sqlalchemy_config import BorrowedEngineConfig
from escrow.threads import pool_connections, thread_pools
from escrow.webhooks.delivery import Deliveries
from escrow.webhooks.events import is_source
from escrow.webhooks.outbox import WebhookOutbox
from escrow.webhooks.routes import webhooks_router
from escrow.wiring import dependencies
from storage.blobs import BlobStore, open_blob_store
from storage.db import Database


def open_settings_blob_store(settings: Settings) -> BlobStore:
    s3 = settings.s3
    return open_blob_store(
        settings.blob_url,
        s3_endpoint=s3.endpoint,
        s3_access_key=s3.access_key,
        s3_secret_key=s3.secret_key,
        s3_region=s3.region,
        s3_secure=s3.secure,
    )


def policy_facts(lifecycle: Lifecycle) -> PolicyFacts:
    """The features' side of what the policy's explain and impact read (escrow.policy.facts)."""
    return PolicyFacts(
        organization=org_resource,
        dataset=dataset_resource,
        agreement=agreement_resource,
        partnership=partnership_resource,
        agreement_statuses=partial(agreement_statuses, lifecycle),
    )


def build_components(
    settings: Settings,
    *,
    clock: Clock | None = None,
    new_id: IdFactory | None = None,
    db: Database | None = None,
    blobs: BlobStore | None = None,
) -> Components:
    """Every collaborator of the services, made once per process from the settings.

    Long by design: the composition root, where each collaborator is built from the ones
    before it and the listeners between them are wired, in the order they depend."""
    clock = clock or SystemClock()
    new_id = new_id or Uuid7Factory(clock)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings.data_dir.chmod(0o700)  # it holds the database and blobs: tighten an older one
    keyring = open_key_manager(settings)
    db = db or Database(settings.database_url, connections=pool_connections(settings.threads))
    blobs = blobs or open_settings_blob_store(settings)
    checkpoints = CheckpointIssuer(keyring, settings.audit_origin or default_origin(keyring), clock)
    audit = AuditLog(
        clock, keyring.keyed_digest, index_wait_seconds=settings.audit_index_wait_seconds
    )
    # Webhook deliveries are written in the transaction of the change they report.
    audit.add_listener(WebhookOutbox(clock, new_id), needs_index=is_source, writes=is_source)
    count_audit_appends(audit)
    overlaps = OverlapComputer(keyring, blobs, OverlapCache())
    # Shredding destroys what was derived (in this process's memory).
    audit.add_listener(forget_shredded(overlaps.cache), writes=writes_nothing)
    return_freed_memory()
    policy = PolicyStore(
        db, audit, clock, new_id, settings.policies_dir, settings.policy_reload_seconds
    )
    guard = Guard(policy, audit)
    lifecycle = Lifecycle(clock, audit, policy, keyring)
    contents = ContentReader(db, audit, clock, keyring, blobs)
    files = FileStore(audit, clock, new_id, keyring, blobs, contents, settings.data_dir / "tmp")
    # Materialized sharing files die in the transaction that ends the last view needing them.
    audit.add_listener(prune_after(files), writes=ends_a_release)
    return Components(
        settings=settings,
        db=db,
        clock=clock,
        new_id=new_id,
        audit=audit,
        policy=policy,
        keyring=keyring,
        blobs=blobs,
        trail=AuditTrail(
            db,
            checkpoints,
            settings.checkpoint_interval,
            settings.audit_integrate_ms,
            settings.audit_index_wait_seconds,
        ),
        shared=Collaborators(db, guard, audit, clock, new_id, lifecycle),
        authentication=_authentication(settings, db, keyring, audit, clock, guard),
        lifecycle=lifecycle,
        contents=contents,
        policy_facts=policy_facts(lifecycle),
        overlaps=overlaps,
        sharing=SharingServer(
            files,
            keyring,
            settings.public_url,
            settings.sharing.url_ttl,
            settings.sharing.profile_max_ttl,
        ),
    )


def _authentication(
    settings: Settings,
    db: Database,
    keyring: KeyManager,
    audit: AuditLog,
    clock: Clock,
    guard: Guard,
) -> Authentication:
    owners = AuthCache()
    owners.forget_on_commit(db.sessionmaker)  # this process's own changes
    tokens = TokenAuthority(
        keyring,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        ttl_seconds=settings.token_ttl,
        clock=clock,
    )
    buckets = bucket_store(db)
    return Authentication(
        db,
        tokens,
        audit,
        clock,
        TokenRateLimits(settings.token_rate, clock, buckets),
        BearerFailures(settings.bearer_failures, clock, buckets),
        org_resource,
        owners,
        guard,
    )


@get("/health/live", summary="Liveness", tags=["ops"])
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/health/ready",
    summary="Readiness: database and blob store answer",
    tags=["ops"],
    sync_to_thread=True,
)
def ready(request: Request[Any, Any, State]) -> dict[str, str]:
    components: Components = request.app.state.components
    try:
        components.db.ping()
    except Exception as exc:
        raise UnavailableError("the database does not answer", dependency="database") from exc
    components.blobs.check()  # BlobStoreUnavailableError -> 503
    return {"status": "ready"}


@get("/.well-known/jwks.json", summary="Public keys that verify access tokens", tags=["auth"])
async def jwks(request: Request[Any, Any, State]) -> dict[str, Any]:
    components: Components = request.app.state.components
    return components.authentication.tokens.jwks()


@get("/v1/keys/signing", summary="The Ed25519 key that signs receipts", tags=["keys"])
async def signing_key(request: Request[Any, Any, State]) -> SigningKeyOut:
    components: Components = request.app.state.components
    signer = components.keyring.service_signer
    return SigningKeyOut(
        key_id=signer.key_id,
        algorithm="Ed25519",
        public_key=base64.b64encode(signer.public_key_bytes).decode("ascii"),
        public_key_pem=signer.public_key_pem(),
    )


def notify_overlap_changes(c: Components) -> int:
    notices = OverlapNotices(c.db, c.overlaps, c.policy, c.audit, c.clock, c.keyring.keyed_digest)
    return notices.run()


overlap_notices = every("overlap-notices", lambda _c: INTERVAL_SECONDS, notify_overlap_changes)
# Each process re-reads the KEKs, so one promoted elsewhere wraps new data keys here too.
key_reload = every(
    "key-reload",
    lambda c: c.settings.key_reload_seconds,
    lambda c: c.keyring.reload(),
    per_process=True,
)


def _read_auth_epoch(components: Components) -> None:
    if components.settings.auth_epoch_poll_ms:  # 0: nothing is remembered
        with components.db.session() as session:
            components.authentication.owners.poll(session)


# Each process reads the auth epoch, forgetting the token owners it remembers when it moved.
auth_epoch_watch = every(
    "auth-epoch",
    lambda c: c.settings.auth_epoch_poll_ms / 1000,
    _read_auth_epoch,
    on_start=_read_auth_epoch,
    per_process=True,
)
# Shared rate-limit buckets that have refilled (PostgreSQL; SQLite keeps them in memory).
full_buckets = every(
    "rate-bucket-cleanup",
    lambda c: 0 if c.db.is_sqlite else CLEANUP_SECONDS,
    lambda c: forget_full_buckets(c.db, c.clock.now()),
)
agreement_sweeps = every(
    "agreement-sweeps",
    lambda c: c.settings.agreement_sweep_interval,
    lambda c: sweep_agreements(c.db, c.lifecycle),
)


# Deliver every ESCROW_WEBHOOK_INTERVAL seconds (0: this process does not).
def webhook_deliveries(c: Components) -> Deliveries:
    """Made afresh for each run, so that a jitter source swapped in by a test is used."""
    return Deliveries(c.db, c.keyring, c.audit, c.clock, c.new_id, c.random, c.settings.webhooks)


webhook_schedule = every(
    "webhook-deliveries",
    lambda c: c.settings.webhooks.interval,
    lambda c: webhook_deliveries(c).run(),
)


def create_app(components: Components) -> Litestar:
    """The API: routes, dependencies, background jobs, plugins, middleware and OpenAPI.

    Long by design: one declaration of the app, each argument a list read top to bottom;
    what each item does lives in its own module."""
    settings = components.settings
    sqlalchemy = BorrowedEngineConfig(
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
            metrics,
            jwks,
            signing_key,
            DatasetController,
            AgreementController,
            AuthController,
            OrgController,
            members_router,
            service_accounts_router,
            PartnershipController,
            AuditController,
            PolicyController,
            AuthzController,
            webhooks_router,
            EcosystemController,
            oauth_metadata,
            swagger_assets(),
            overlaps_router,
            profiles_router,
            protocol_router,
        ],
        dependencies=dependencies(),
        lifespan=[
            thread_pools,  # first: every later lifespan's jobs run on them
            policy_reload_schedule,
            checkpoint_schedule,
            integration_schedule,
            agreement_sweeps,
            webhook_schedule,
            overlap_notices,
            full_buckets,
            key_reload,
            auth_epoch_watch,
        ],
        plugins=[
            SQLAlchemyPlugin(config=sqlalchemy),
            ProblemDetailsPlugin(problems),
            ProblemResponses(PUBLIC_PATHS),
            ClosedStructSchema(),
        ],
        middleware=[
            RequestLatencyMiddleware,  # outermost: times authentication too
            RequestIdMiddleware,
            InputLimitMiddleware,  # before authentication reads the database
            # The protocol authenticates recipient profiles itself (escrow/sharing).
            DefineMiddleware(BearerAuthMiddleware, exclude=[*PUBLIC_PATHS, f"^{SHARING_PREFIX}/"]),
        ],
        exception_handlers={Exception: problem_response},
        before_request=refuse_repeated_parameters,
        request_max_body_size=settings.max_body_bytes,
        request_class=LimitedRequest,
        state=State({"components": components}),
        openapi_config=OpenAPIConfig(
            title="Partner Escrow",
            version=__version__,
            path=SCHEMA_PATH,
            render_plugins=render_plugins(),
            components=OpenAPIComponents(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                    # OAuth 2.0 client authentication at the token and revocation endpoints.
                    CLIENT_BASIC: SecurityScheme(type="http", scheme="basic"),
                }
            ),
            security=[{"bearer": []}],
        ),
        debug=False,
    )


def app_from_environment() -> Litestar:
    """The app of one worker of ``escrow serve --workers N``: each worker process reads the
    settings and builds its own components (engine, caches, schedules), as a replica does."""
    components = build_components(load_settings())
    app = create_app(components)
    app.on_shutdown.append(components.db.dispose)
    return app
