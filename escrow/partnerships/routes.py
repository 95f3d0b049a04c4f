"""HTTP for partnerships."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from escrow.paging import DEFAULT_PAGE_SIZE
from escrow.params import Cursor, Limit
from escrow.partnerships.schemas import PartnershipCreate, PartnershipOut
from escrow.partnerships.service import PartnershipService
from escrow.schemas import PageOut

Partnerships = NamedDependency[PartnershipService]


class PartnershipController(Controller):
    path = "/v1/partnerships"
    tags = ("partnerships",)

    @post("/", sync_to_thread=True, summary="Create a partnership between two orgs (operators)")
    def create(
        self, data: JSONBody[PartnershipCreate], partnerships: Partnerships
    ) -> PartnershipOut:
        return PartnershipOut.of(partnerships.create(data.orgs, data.kind))

    @get("/", sync_to_thread=True, summary="List partnerships you may see")
    def list_partnerships(
        self, partnerships: Partnerships, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> PageOut[PartnershipOut]:
        page = partnerships.list_visible(cursor, limit)
        return PageOut([PartnershipOut.of(p) for p in page.items], page.next_cursor)

    @get("/{partnership_id:str}", sync_to_thread=True, summary="Read a partnership")
    def read(self, partnership_id: FromPath[str], partnerships: Partnerships) -> PartnershipOut:
        return PartnershipOut.of(partnerships.get(partnership_id))

    @post("/{partnership_id:str}/end", sync_to_thread=True, status_code=200, summary="End")
    def end(self, partnership_id: FromPath[str], partnerships: Partnerships) -> PartnershipOut:
        return PartnershipOut.of(partnerships.end(partnership_id))
