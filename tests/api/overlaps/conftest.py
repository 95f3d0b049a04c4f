"""Two partners with CRM account lists, and an outsider, built through the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.datasets import create_dataset, deposit

ACME_SCHEMA = {
    "fields": [
        {"name": "domain", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "stage", "type": "string"},
        {"name": "owner", "type": "string"},
    ]
}
GLOBEX_SCHEMA = {
    "fields": [
        {"name": "website", "type": "string"},
        {"name": "company", "type": "string"},
        {"name": "status", "type": "string"},
        {"name": "rep", "type": "string"},
    ]
}
ACME_CSV = (
    b"domain,name,stage,owner\r\n"
    b"https://www.Alpha.com/about,Alpha Inc,customer,ann@acme.test\r\n"
    b"beta.io,Beta,customer,ann@acme.test\r\n"
    b"gamma.org,Gamma,prospect,bob@acme.test\r\n"
    b"delta.net,Delta,prospect,bob@acme.test\r\n"
    b"eu.epsilon.com,Epsilon EU,customer,ann@acme.test\r\n"
    b",Nameless,customer,ann@acme.test\r\n"
)
GLOBEX_CSV = (
    b"website,company,status,rep\r\n"
    b"alpha.com,ALPHA Incorporated,customer,zed-secret-rep\r\n"
    b"WWW.BETA.IO.,Beta Ltd,open_opportunity,yan-secret-rep\r\n"
    b"gamma.org:443,Gamma GmbH,customer,zed-secret-rep\r\n"
    b"epsilon.com,Epsilon,customer,xia-secret-rep\r\n"
    b"zeta-greenfield.com,Zeta,customer,xia-secret-rep\r\n"
    b",Blank,customer,xia-secret-rep\r\n"
)


@dataclass
class Crms:
    acme: Caller  # steward
    acme_member: Caller
    globex: Caller  # steward
    globex_member: Caller
    globex_admin: Caller
    outsider: Caller  # initech admin, no partnership
    partnership: dict[str, Any]
    acme_dataset: str
    globex_dataset: str
    acme_customers: str
    acme_prospects: str
    globex_customers: str
    globex_opportunities: str

    def share(self, caller: Caller, population: str, partner: str, level: str, **kw: Any) -> Any:
        return caller.request(
            "PUT",
            f"/v1/populations/{population}/sharing/{partner}",
            json={"level": level, **kw},
        )


def population(caller: Caller, dataset: str, body: dict[str, Any]) -> str:
    response = caller.post(f"/v1/datasets/{dataset}/populations", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
def crms(eco: Ecosystem) -> Crms:
    eco.org("acme", "strategic")
    eco.org("globex", "core")
    eco.org("initech", "core")
    partnership = eco.partnership("acme", "globex", "technology")
    acme = eco.principal("acme", "steward")
    globex = eco.principal("globex", "steward")
    acme_ds = create_dataset(acme, "accounts", labels=["crm"], schema=ACME_SCHEMA)["id"]
    globex_ds = create_dataset(globex, "accounts", labels=["crm"], schema=GLOBEX_SCHEMA)["id"]
    assert deposit(acme, acme_ds, ACME_CSV).status_code == 201
    assert deposit(globex, globex_ds, GLOBEX_CSV).status_code == 201
    stage = {"field": "stage", "op": "eq", "value": "customer"}
    return Crms(
        acme=acme,
        acme_member=eco.principal("acme", "member"),
        globex=globex,
        globex_member=eco.principal("globex", "member"),
        globex_admin=eco.principal("globex", "admin"),
        outsider=eco.principal("initech", "admin"),
        partnership=partnership,
        acme_dataset=acme_ds,
        globex_dataset=globex_ds,
        acme_customers=population(
            acme,
            acme_ds,
            {
                "name": "customers",
                "match": {"field": "domain", "normalize": "domain"},
                "where": stage,
                "sharing": {"level": "counts"},
            },
        ),
        acme_prospects=population(
            acme,
            acme_ds,
            {
                "name": "prospects",
                "match": {"field": "domain", "normalize": "domain"},
                "where": {"field": "stage", "op": "eq", "value": "prospect"},
                "sharing": {"level": "counts"},
            },
        ),
        globex_customers=population(
            globex,
            globex_ds,
            {
                "name": "customers",
                "match": {"field": "website", "normalize": "domain"},
                "where": {"field": "status", "op": "eq", "value": "customer"},
                "sharing": {"level": "counts"},
            },
        ),
        globex_opportunities=population(
            globex,
            globex_ds,
            {
                "name": "opportunities",
                "match": {"field": "website", "normalize": "domain"},
                "where": {"field": "status", "op": "eq", "value": "open_opportunity"},
                "sharing": {"level": "counts"},
            },
        ),
    )


def cells(caller: Caller, partner: str) -> dict[tuple[str, str], dict[str, Any]]:
    response = caller.get("/v1/overlaps", params={"partner": partner})
    assert response.status_code == 200, response.text
    return {(c["mine"]["name"], c["theirs"]["name"]): c for c in response.json()["cells"]}
