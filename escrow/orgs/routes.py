"""HTTP for organizations: translate, call the service, translate back."""

from __future__ import annotations

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import FromPath, JSONBody

from escrow.orgs.schemas import OrgCreate, OrgOut, OrgUpdate
from escrow.orgs.service import OrgService
from escrow.paging import DEFAULT_PAGE_SIZE
from escrow.params import Cursor, Deps, Limit
from escrow.schemas import PageOut


class OrgController(Controller):
    path = "/v1/orgs"
    tags = ("organizations",)

    @post("/", sync_to_thread=True, summary="Create an organization (operators)")
    def create(self, data: JSONBody[OrgCreate], deps: Deps) -> OrgOut:
        return OrgOut.of(OrgService(deps).create(data.slug, data.name, data.tier))

    @get("/", sync_to_thread=True, summary="List the organizations you may see")
    def list_orgs(
        self, deps: Deps, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE_SIZE
    ) -> PageOut[OrgOut]:
        page = OrgService(deps).list_visible(cursor, limit)
        return PageOut([OrgOut.of(org) for org in page.items], page.next_cursor)

    @get("/{org:str}", sync_to_thread=True, summary="Read an organization")
    def read(self, org: FromPath[str], deps: Deps) -> OrgOut:
        return OrgOut.of(OrgService(deps).get(org))

    @patch("/{org:str}", sync_to_thread=True, summary="Rename or re-tier an organization")
    def update(self, org: FromPath[str], data: JSONBody[OrgUpdate], deps: Deps) -> OrgOut:
        name = None if data.name is msgspec.UNSET else data.name
        tier = None if data.tier is msgspec.UNSET else data.tier
        return OrgOut.of(OrgService(deps).update(org, name, tier))

    @post("/{org:str}/suspend", sync_to_thread=True, status_code=200, summary="Suspend")
    def suspend(self, org: FromPath[str], deps: Deps) -> OrgOut:
        return OrgOut.of(OrgService(deps).set_status(org, "suspended"))

    @post("/{org:str}/reactivate", sync_to_thread=True, status_code=200, summary="Reactivate")
    def reactivate(self, org: FromPath[str], deps: Deps) -> OrgOut:
        return OrgOut.of(OrgService(deps).set_status(org, "active"))
