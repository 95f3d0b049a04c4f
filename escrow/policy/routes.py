"""HTTP for policy administration and explanations: translate, call the service, translate back."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from escrow.paging import DEFAULT_PAGE_SIZE
from escrow.params import Cursor, Limit
from escrow.policy.schemas import (
    BundleIn,
    BundleOut,
    BundleSummaryOut,
    ExplainIn,
    ExplainOut,
    ImpactIn,
    ImpactOut,
)
from escrow.policy.service import ExplainService, PolicyService
from escrow.schemas import PageOut

ITEM = "/{bundle_id:str}"
Policies = NamedDependency[PolicyService]
Explainer = NamedDependency[ExplainService]


class PolicyController(Controller):
    path = "/v1/policies"
    tags = ("policies",)

    @post("/", sync_to_thread=True, summary="Upload a candidate bundle (operators)")
    def upload(self, data: JSONBody[BundleIn], policies: Policies) -> BundleOut:
        return BundleOut.of(policies.upload(data.files, data.tests))

    @get("/", sync_to_thread=True, summary="Every bundle, newest first (operators)")
    def list_bundles(
        self, policies: Policies, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> PageOut[BundleSummaryOut]:
        page = policies.list_bundles(cursor, limit)
        return PageOut([BundleSummaryOut.of(row) for row in page.items], page.next_cursor)

    @get("/active", sync_to_thread=True, summary="The bundle every process serves (operators)")
    def active(self, policies: Policies) -> BundleOut:
        return BundleOut.of(policies.active())

    @get(ITEM, sync_to_thread=True, summary="One bundle with its files and tests (operators)")
    def read(self, bundle_id: FromPath[str], policies: Policies) -> BundleOut:
        return BundleOut.of(policies.get(bundle_id))

    @post(
        ITEM + "/impact",
        sync_to_thread=True,
        status_code=200,
        summary="Replay recent decisions under a bundle and list what would change (operators)",
    )
    def impact(
        self, bundle_id: FromPath[str], data: JSONBody[ImpactIn], policies: Policies
    ) -> ImpactOut:
        return ImpactOut.of(policies.impact(bundle_id, data.limit))

    @post(
        ITEM + "/activate",
        sync_to_thread=True,
        status_code=200,
        summary="Make a bundle active everywhere; activating an earlier one rolls back",
    )
    def activate(self, bundle_id: FromPath[str], policies: Policies) -> BundleOut:
        return BundleOut.of(policies.activate(bundle_id))


class AuthzController(Controller):
    path = "/v1/authz"
    tags = ("policies",)

    @post(
        "/explain",
        sync_to_thread=True,
        status_code=200,
        summary="Why the policy allows or denies an action (self, org admins, operators)",
    )
    def explain(self, data: JSONBody[ExplainIn], explainer: Explainer) -> ExplainOut:
        ref = data.resource
        explained = explainer.explain(data.actor, data.action, ref.type, ref.id)
        return ExplainOut.of(ref, data.action, explained)
