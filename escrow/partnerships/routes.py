"""HTTP for partnerships."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody

from escrow.paging import DEFAULT_PAGE_SIZE
from escrow.params import Cursor, Deps, Limit
from escrow.partnerships.schemas import PartnershipCreate, PartnershipOut
from escrow.partnerships.service import PartnershipService
from escrow.schemas import PageOut


class PartnershipController(Controller):
    path = "/v1/partnerships"
    tags = ("partnerships",)

    @post("/", sync_to_thread=True, summary="Create a partnership between two orgs (operators)")
    def create(self, data: JSONBody[PartnershipCreate], deps: Deps) -> PartnershipOut:
        return PartnershipOut.of(PartnershipService(deps).create(data.orgs, data.kind))

    @get("/", sync_to_thread=True, summary="List partnerships you may see")
    def list_partnerships(
        self, deps: Deps, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> PageOut[PartnershipOut]:
        page = PartnershipService(deps).list_visible(cursor, limit)
        return PageOut([PartnershipOut.of(p) for p in page.items], page.next_cursor)

    @get("/{partnership_id:str}", sync_to_thread=True, summary="Read a partnership")
    def read(self, partnership_id: FromPath[str], deps: Deps) -> PartnershipOut:
        return PartnershipOut.of(PartnershipService(deps).get(partnership_id))

    @post("/{partnership_id:str}/end", sync_to_thread=True, status_code=200, summary="End")
    def end(self, partnership_id: FromPath[str], deps: Deps) -> PartnershipOut:
        return PartnershipOut.of(PartnershipService(deps).end(partnership_id))
