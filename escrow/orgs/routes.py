"""HTTP for organizations: translate, call the service, translate back."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from escrow.orgs.schemas import OrgCreate, OrgOut, OrgUpdate
from escrow.orgs.service import OrgService
from escrow.paging import DEFAULT_PAGE_SIZE
from escrow.params import Cursor, Limit
from escrow.schemas import PageOut

Orgs = NamedDependency[OrgService]


class OrgController(Controller):
    path = "/v1/orgs"
    tags = ("organizations",)

    @post("/", sync_to_thread=True, summary="Create an organization (operators)")
    def create(self, data: JSONBody[OrgCreate], orgs: Orgs) -> OrgOut:
        return OrgOut.of(orgs.create(data.slug, data.name, data.tier))

    @get("/", sync_to_thread=True, summary="List the organizations you may see")
    def list_orgs(
        self, orgs: Orgs, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> PageOut[OrgOut]:
        page = orgs.list_visible(cursor, limit)
        return PageOut([OrgOut.of(org) for org in page.items], page.next_cursor)

    @get("/{org:str}", sync_to_thread=True, summary="Read an organization")
    def read(self, org: FromPath[str], orgs: Orgs) -> OrgOut:
        return OrgOut.of(orgs.get(org))

    @patch("/{org:str}", sync_to_thread=True, summary="Rename or re-tier an organization")
    def update(self, org: FromPath[str], data: JSONBody[OrgUpdate], orgs: Orgs) -> OrgOut:
        name = None if data.name is msgspec.UNSET else data.name
        tier = None if data.tier is msgspec.UNSET else data.tier
        return OrgOut.of(orgs.update(org, name, tier))

    @post("/{org:str}/suspend", sync_to_thread=True, status_code=200, summary="Suspend")
    def suspend(self, org: FromPath[str], orgs: Orgs) -> OrgOut:
        return OrgOut.of(orgs.set_status(org, "suspended"))

    @post("/{org:str}/reactivate", sync_to_thread=True, status_code=200, summary="Reactivate")
    def reactivate(self, org: FromPath[str], orgs: Orgs) -> OrgOut:
        return OrgOut.of(orgs.set_status(org, "active"))
