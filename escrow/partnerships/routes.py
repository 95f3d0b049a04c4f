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
        service = PartnershipService(deps)
        partnership = service.create(data.orgs, data.kind)
        return PartnershipOut.of(partnership, service.org_slugs([partnership]))

    @get("/", sync_to_thread=True, summary="List partnerships you may see")
    def list_partnerships(
        self, deps: Deps, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> PageOut[PartnershipOut]:
        service = PartnershipService(deps)
        page = service.list_visible(cursor, limit)
        slugs = service.org_slugs(page.items)
        return PageOut([PartnershipOut.of(p, slugs) for p in page.items], page.next_cursor)

    @get("/{partnership_id:str}", sync_to_thread=True, summary="Read a partnership")
    def read(self, partnership_id: FromPath[str], deps: Deps) -> PartnershipOut:
        service = PartnershipService(deps)
        partnership = service.get(partnership_id)
        return PartnershipOut.of(partnership, service.org_slugs([partnership]))

    @post("/{partnership_id:str}/end", sync_to_thread=True, status_code=200, summary="End")
    def end(self, partnership_id: FromPath[str], deps: Deps) -> PartnershipOut:
        service = PartnershipService(deps)
        partnership = service.end(partnership_id)
        return PartnershipOut.of(partnership, service.org_slugs([partnership]))
