"""Populations CRUD and bad input: clear 422/404 problems, nothing changed."""

from __future__ import annotations

import pytest

from tests.api.overlaps.conftest import Crms
from tests.fixtures.datasets import create_dataset

GOOD = {"name": "all-accounts", "match": {"field": "domain", "normalize": "domain"}}


def _names(crms: Crms) -> list[str]:
    response = crms.acme.get(f"/v1/datasets/{crms.acme_dataset}/populations")
    assert response.status_code == 200
    return sorted(p["name"] for p in response.json()["items"])


def test_stewards_create_read_update_and_delete_populations(crms: Crms):
    created = crms.acme.post(
        f"/v1/datasets/{crms.acme_dataset}/populations",
        json={**GOOD, "sharing": {"level": "overlaps", "fields": ["name", "stage"]}},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body == {
        "id": body["id"],
        "name": "all-accounts",
        "dataset_id": crms.acme_dataset,
        "match": {"field": "domain", "normalize": "domain"},
        "where": None,
        "sharing": {"level": "overlaps", "fields": ["name", "stage"]},
        "overrides": [],
    }
    assert crms.share(crms.acme, body["id"], "globex", "counts").status_code == 200
    read = crms.acme_member.get(f"/v1/populations/{body['id']}").json()
    assert read["overrides"] == [{"partner": "globex", "level": "counts", "fields": []}]
    listed = crms.acme_member.get("/v1/populations").json()["items"]
    assert body["id"] in {p["id"] for p in listed}
    assert crms.acme.delete(f"/v1/populations/{body['id']}").status_code == 204
    assert crms.acme.get(f"/v1/populations/{body['id']}").status_code == 404


def test_members_and_partners_cannot_manage_populations(crms: Crms):
    url = f"/v1/datasets/{crms.acme_dataset}/populations"
    assert crms.acme_member.post(url, json=GOOD).status_code == 403
    assert crms.globex.post(url, json=GOOD).status_code == 404
    assert crms.globex.get(f"/v1/populations/{crms.acme_customers}").status_code == 404
    assert (
        crms.globex.patch(f"/v1/populations/{crms.acme_customers}", json={"name": "x"}).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({**GOOD, "colour": "red"}, 400, None),
        ({**GOOD, "match": {"field": "domain", "normalize": "soundex"}}, 422, "match.normalize"),
        ({**GOOD, "match": {"field": "website", "normalize": "domain"}}, 422, "match.field"),
        ({**GOOD, "where": {"field": "status", "op": "eq", "value": "customer"}}, 422, "where"),
        ({**GOOD, "where": {"field": "stage", "op": "like", "value": "c"}}, 422, "where"),
        ({**GOOD, "sharing": {"level": "overlaps"}}, 422, "sharing.fields"),
        ({**GOOD, "sharing": {"level": "all", "fields": ["rep"]}}, 422, "sharing.fields"),
        ({**GOOD, "sharing": {"level": "counts", "fields": ["name"]}}, 422, "sharing.fields"),
        ({**GOOD, "sharing": {"level": "everything"}}, 422, "sharing.level"),
    ],
)
def test_bad_populations_are_refused_and_nothing_changes(crms: Crms, body, status, field):
    before = _names(crms)
    response = crms.acme.post(f"/v1/datasets/{crms.acme_dataset}/populations", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    if field is not None:
        assert response.json()["field"] == field
    assert _names(crms) == before


def test_populations_need_a_tabular_dataset_with_a_schema(crms: Crms):
    blob = create_dataset(crms.acme, "contracts", media_type="application/pdf")["id"]
    schemaless = create_dataset(crms.acme, "raw-list", labels=[])["id"]
    for dataset in (blob, schemaless):
        response = crms.acme.post(f"/v1/datasets/{dataset}/populations", json=GOOD)
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "dataset"


def test_sharing_toward_an_organization_that_is_not_a_partner_is_404(crms: Crms):
    for slug in ("initech", "nobody-here", "acme"):
        response = crms.share(crms.acme, crms.acme_customers, slug, "counts")
        assert response.status_code == 404, response.text
    read = crms.acme.get(f"/v1/populations/{crms.acme_customers}").json()
    assert read["overrides"] == []


def test_sharing_fields_must_be_in_the_schema(crms: Crms):
    response = crms.share(crms.acme, crms.acme_customers, "globex", "overlaps", fields=["rep"])
    assert response.status_code == 422
    assert response.json()["unknown"] == ["rep"]


def test_a_population_name_is_unique_per_dataset(crms: Crms):
    body = {**GOOD, "name": "customers"}
    response = crms.acme.post(f"/v1/datasets/{crms.acme_dataset}/populations", json=body)
    assert response.status_code == 409


def test_records_of_an_unknown_population_are_404(crms: Crms):
    for mine, theirs in (("nope", crms.globex_customers), (crms.acme_customers, "nope")):
        response = crms.acme.get(
            "/v1/overlaps/records", params={"partner": "globex", "mine": mine, "theirs": theirs}
        )
        assert response.status_code == 404


def test_explain_names_why_overlaps_are_denied(crms: Crms, eco):
    assert eco.operator.post("/v1/orgs/globex/suspend").status_code == 200
    response = crms.acme.post(
        "/v1/authz/explain",
        json={
            "action": "read_overlaps",
            "resource": {"type": "partnership", "id": crms.partnership["id"]},
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["allowed"] is False
