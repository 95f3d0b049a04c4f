"""HTTP for agreements: terms, decisions, attestations, release, objection, revocation."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from escrow.agreements.preview import preview
from escrow.agreements.schemas import (
    AgreementCreate,
    AgreementOut,
    AttestationIn,
    DecisionIn,
    PreviewOut,
    ReasonIn,
)
from escrow.agreements.service import AgreementService
from escrow.agreements.terms import Terms
from escrow.datasets.download import ContentReader
from escrow.paging import DEFAULT_PAGE_SIZE
from escrow.params import Cursor, Limit
from escrow.schemas import PageOut

ITEM = "/v1/agreements/{agreement_id:str}"
Agreements = NamedDependency[AgreementService]
Contents = NamedDependency[ContentReader]


class AgreementController(Controller):
    path = ""
    tags = ("agreements",)

    @post(
        "/v1/datasets/{dataset_id:str}/agreements",
        sync_to_thread=True,
        summary="Set escrow terms for one beneficiary (owner stewards)",
    )
    def create(
        self, dataset_id: FromPath[str], data: JSONBody[AgreementCreate], agreements: Agreements
    ) -> AgreementOut:
        attestation = data.attestation
        created = agreements.create(
            dataset_id,
            Terms(
                beneficiary=data.beneficiary,
                purpose=data.purpose,
                required_approvals=data.approvals.required,
                approvers=list(data.approvals.from_),
                not_before=data.not_before,
                expires_at=data.expires_at,
                objection_hours=data.objection_window_hours,
                attestation_event=attestation.event if attestation else None,
                attestation_by=attestation.by if attestation else None,
                view=data.view,
            ),
        )
        return AgreementOut.of(created)

    @get("/v1/agreements", sync_to_thread=True, summary="Agreements your organization is party to")
    def list_agreements(
        self, agreements: Agreements, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> PageOut[AgreementOut]:
        page = agreements.list_visible(cursor, limit)
        return PageOut([AgreementOut.of(a) for a in page.items], page.next_cursor)

    @get(ITEM, sync_to_thread=True, summary="Read an agreement, with what still blocks release")
    def read(self, agreement_id: FromPath[str], agreements: Agreements) -> AgreementOut:
        return AgreementOut.of(agreements.get(agreement_id))

    @get(
        ITEM + "/preview",
        sync_to_thread=True,
        summary="The first rows the beneficiary would receive (owner stewards)",
    )
    def preview(
        self,
        agreement_id: FromPath[str],
        agreements: Agreements,
        contents: Contents,
        rows: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
        version: Annotated[int | None, QueryParameter(ge=1)] = None,
    ) -> PreviewOut:
        return PreviewOut.of(preview(agreements, contents, agreement_id, rows, version))

    @post(ITEM + "/approvals", sync_to_thread=True, summary="Approve or reject (named approvers)")
    def decide(
        self, agreement_id: FromPath[str], data: JSONBody[DecisionIn], agreements: Agreements
    ) -> AgreementOut:
        return AgreementOut.of(agreements.decide(agreement_id, data.decision, data.reason))

    @post(
        ITEM + "/attestations",
        sync_to_thread=True,
        summary="Attest the trigger event (the designated organization)",
    )
    def attest(
        self, agreement_id: FromPath[str], data: JSONBody[AttestationIn], agreements: Agreements
    ) -> AgreementOut:
        return AgreementOut.of(agreements.attest(agreement_id, data.event, data.statement))

    @post(
        ITEM + "/release",
        sync_to_thread=True,
        status_code=200,
        summary="Release now if the release rule holds (409 with the blockers otherwise)",
    )
    def release(self, agreement_id: FromPath[str], agreements: Agreements) -> AgreementOut:
        return AgreementOut.of(agreements.release(agreement_id))

    @post(
        ITEM + "/objections",
        sync_to_thread=True,
        summary="Object during the objection window (owner): the agreement is rejected",
    )
    def object(
        self, agreement_id: FromPath[str], data: JSONBody[ReasonIn], agreements: Agreements
    ) -> AgreementOut:
        return AgreementOut.of(agreements.object(agreement_id, data.reason))

    @post(
        ITEM + "/revoke",
        sync_to_thread=True,
        status_code=200,
        summary="Revoke (owner): takes effect at once",
    )
    def revoke(
        self,
        agreement_id: FromPath[str],
        agreements: Agreements,
        data: JSONBody[ReasonIn | None] = None,
    ) -> AgreementOut:
        return AgreementOut.of(agreements.revoke(agreement_id, data.reason if data else ""))

    @post(
        ITEM + "/terminate",
        sync_to_thread=True,
        status_code=200,
        summary="Terminate early (beneficiary admins)",
    )
    def terminate(
        self,
        agreement_id: FromPath[str],
        agreements: Agreements,
        data: JSONBody[ReasonIn | None] = None,
    ) -> AgreementOut:
        return AgreementOut.of(agreements.terminate(agreement_id, data.reason if data else ""))
