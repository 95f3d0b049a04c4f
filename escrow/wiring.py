"""Litestar's side of the composition: the named dependencies that route handlers declare,
each built from the process's components (escrow.components) and the request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from sqlalchemy.orm import Session

from escrow.agreements.service import AgreementService
from escrow.auditing.service import AuditService
from escrow.components import Components
from escrow.context import RequestContext
from escrow.datasets.deposit import Depositor
from escrow.datasets.service import DatasetService
from escrow.ecosystem.service import EcosystemService
from escrow.members.service import MemberService
from escrow.orgs.service import OrgService
from escrow.overlaps.disclosures import DisclosureService
from escrow.overlaps.reading import OverlapService
from escrow.overlaps.service import PopulationService
from escrow.partnerships.service import PartnershipService
from escrow.policy.service import ExplainService, PolicyService
from escrow.request_context import request_context
from escrow.service import ServiceDeps
from escrow.sharing.service import ProfileService
from escrow.webhooks.service import WebhookService


# Each service that needs more than its unit of work is made here, from the components.
def agreement_service(c: Components, deps: ServiceDeps) -> AgreementService:
    return AgreementService(deps, c.lifecycle)


def policy_service(c: Components, deps: ServiceDeps) -> PolicyService:
    return PolicyService(
        deps, c.policy, c.policy_facts, c.settings.policy_validation_seconds, c.trail
    )


def explain_service(c: Components, deps: ServiceDeps) -> ExplainService:
    return ExplainService(deps, c.policy, c.policy_facts)


def overlap_service(c: Components, deps: ServiceDeps) -> OverlapService:
    return OverlapService(deps, c.overlaps, c.policy)


def disclosure_service(c: Components, deps: ServiceDeps) -> DisclosureService:
    return DisclosureService(deps, c.trail)


def webhook_service(c: Components, deps: ServiceDeps) -> WebhookService:
    return WebhookService(deps, c.settings.webhooks, c.keyring)


def audit_service(c: Components, deps: ServiceDeps) -> AuditService:
    return AuditService(deps, c.trail)


def depositor(c: Components, ctx: RequestContext) -> Depositor:
    return Depositor(ctx, c.shared, c.keyring, c.blobs, c.settings.max_deposit_bytes)


def dependencies() -> dict[str, Provide]:
    """Every named dependency of the API, resolved without a thread hop (none does I/O).

    Each reads the components from the app's state when it is resolved (tests give an app
    the components of each test)."""

    def deps(
        state: State, request: Request[Any, Any, Any], db_session: NamedDependency[Session]
    ) -> ServiceDeps:
        return _components(state).shared.bind(db_session, request_context(request))

    def deposits(state: State, request: Request[Any, Any, Any]) -> Depositor:
        return depositor(_components(state), request_context(request))

    def service(make: Callable[[Components, ServiceDeps], object]) -> Callable[..., object]:
        def provide(state: State, deps: NamedDependency[ServiceDeps]) -> object:
            return make(_components(state), deps)

        return provide

    def part(read: Callable[[Components], object]) -> Callable[..., object]:
        def provide(state: State) -> object:
            return read(_components(state))

        return provide

    providers: dict[str, Callable[..., object]] = {
        "deps": deps,
        # Use cases made from their unit of work alone.
        "orgs": service(lambda _, deps: OrgService(deps)),
        "members": service(lambda _, deps: MemberService(deps)),
        "partnerships": service(lambda _, deps: PartnershipService(deps)),
        "datasets": service(lambda _, deps: DatasetService(deps)),
        "populations": service(lambda _, deps: PopulationService(deps)),
        "profiles": service(lambda _, deps: ProfileService(deps)),
        "ecosystem": service(lambda c, deps: EcosystemService(deps, c.trail)),
        # Use cases that name more collaborators.
        "audits": service(audit_service),
        "agreements": service(agreement_service),
        "policies": service(policy_service),
        "explainer": service(explain_service),
        "overlaps": service(overlap_service),
        "disclosures": service(disclosure_service),
        "webhooks": service(webhook_service),
        "depositor": deposits,
        # The long-lived collaborators some routes name themselves.
        "settings": part(lambda c: c.settings),
        "shared": part(lambda c: c.shared),
        "contents": part(lambda c: c.contents),
        "blobs": part(lambda c: c.blobs),
        "database": part(lambda c: c.db),
        "trail": part(lambda c: c.trail),
        "authentication": part(lambda c: c.authentication),
        "server": part(lambda c: c.sharing),
    }
    return {name: Provide(make, sync_to_thread=False) for name, make in providers.items()}


def _components(state: State) -> Components:
    components: Components = state.components
    return components
