"""The sharing level matrix through HTTP, in both directions, and field-level leakage."""

from __future__ import annotations

import pytest

from tests.api.overlaps.conftest import Crms, cells

LEVELS = ["hidden", "counts", "overlaps", "all"]
# What each level lets the partner do: (sees the cell, records status, greenfield status).
EXPECTED = {
    "hidden": (False, 404, 404),
    "counts": (True, 403, 403),
    "overlaps": (True, 200, 403),
    "all": (True, 200, 200),
}


def _setup(crms: Crms, direction: str, level: str):
    """(reader, partner slug, reader's population, shared population, its granted fields)."""
    fields = ["company"] if direction == "acme-reads" else ["name"]
    body = {"fields": fields} if level in ("overlaps", "all") else {}
    if direction == "acme-reads":
        shared, reader, mine, partner = (
            crms.globex_customers,
            crms.acme_member,
            crms.acme_customers,
            "globex",
        )
        response = crms.share(crms.globex, shared, "acme", level, **body)
    else:
        shared, reader, mine, partner = (
            crms.acme_customers,
            crms.globex_member,
            crms.globex_customers,
            "acme",
        )
        response = crms.share(crms.acme, shared, "globex", level, **body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "partner": "globex" if partner == "acme" else "acme",
        "level": level,
        "fields": fields if body else [],
    }
    return reader, partner, mine, shared, fields


@pytest.mark.parametrize("direction", ["acme-reads", "globex-reads"])
@pytest.mark.parametrize("level", LEVELS)
def test_each_level_reveals_what_it_names_and_nothing_more(crms: Crms, direction: str, level: str):
    reader, partner, mine, shared, fields = _setup(crms, direction, level)
    sees_cell, records_status, greenfield_status = EXPECTED[level]
    response = reader.get("/v1/overlaps", params={"partner": partner})
    assert response.status_code == 200
    theirs = {c["theirs"]["id"] for c in response.json()["cells"]}
    assert (shared in theirs) is sees_cell
    records = reader.get(
        "/v1/overlaps/records", params={"partner": partner, "mine": mine, "theirs": shared}
    )
    assert records.status_code == records_status, records.text
    greenfield = reader.get(
        "/v1/overlaps/greenfield", params={"partner": partner, "theirs": shared}
    )
    assert greenfield.status_code == greenfield_status, greenfield.text
    if records_status == 200:
        items = records.json()["items"]
        assert [item["key"] for item in items] == ["alpha.com"]
        assert set(items[0]["theirs"]) == set(fields)
    if greenfield_status == 200:
        rows = greenfield.json()["items"]
        assert all(set(row["theirs"]) == set(fields) for row in rows)
        assert all(set(row) == {"theirs"} for row in rows)  # no keys: they are not held


def test_hidden_populations_are_invisible_names_included(crms: Crms):
    assert (
        crms.globex.patch(
            f"/v1/populations/{crms.globex_opportunities}", json={"name": "secret-pipeline-xyz"}
        ).status_code
        == 200
    )
    crms.share(crms.globex, crms.globex_opportunities, "acme", "hidden")
    response = crms.acme.get("/v1/overlaps", params={"partner": "globex"})
    assert "secret-pipeline-xyz" not in response.text
    assert crms.globex_opportunities not in response.text


def test_records_never_carry_an_ungranted_field_name_or_value(crms: Crms):
    crms.share(crms.globex, crms.globex_customers, "acme", "all", fields=["company"])
    pages = [
        crms.acme.get("/v1/overlaps", params={"partner": "globex"}),
        crms.acme.get(
            "/v1/overlaps/records",
            params={
                "partner": "globex",
                "mine": crms.acme_customers,
                "theirs": crms.globex_customers,
            },
        ),
        crms.acme.get(
            "/v1/overlaps/greenfield", params={"partner": "globex", "theirs": crms.globex_customers}
        ),
    ]
    for page in pages:
        assert page.status_code == 200, page.text
        body = page.content
        for leaked in (b"secret-rep", b'"rep"', b'"status"', b'"website"', b"zeta-greenfield.com"):
            assert leaked not in body, (leaked, body)
    assert b"Zeta" in pages[2].content  # greenfield: the granted company name only


def test_counts_level_reveals_no_partner_value(crms: Crms):
    response = crms.acme.get("/v1/overlaps", params={"partner": "globex"})
    for value in (b"ALPHA Incorporated", b"gamma.org", b"secret-rep", b"Zeta"):
        assert value not in response.content


def test_a_sharing_change_applies_at_the_next_read(crms: Crms):
    params = {"partner": "globex", "mine": crms.acme_customers, "theirs": crms.globex_customers}
    assert crms.acme.get("/v1/overlaps/records", params=params).status_code == 403
    crms.share(crms.globex, crms.globex_customers, "acme", "overlaps", fields=["company"])
    assert crms.acme.get("/v1/overlaps/records", params=params).status_code == 200
    assert (
        crms.globex.delete(f"/v1/populations/{crms.globex_customers}/sharing/acme").status_code
        == 204
    )
    assert crms.acme.get("/v1/overlaps/records", params=params).status_code == 403


def test_records_are_paginated_by_key(crms: Crms):
    crms.share(crms.globex, crms.globex_customers, "acme", "overlaps", fields=["company"])
    crms.acme.patch(f"/v1/populations/{crms.acme_customers}", json={"where": None})
    params = {
        "partner": "globex",
        "mine": crms.acme_customers,
        "theirs": crms.globex_customers,
        "limit": 1,
    }
    first = crms.acme.get("/v1/overlaps/records", params=params).json()
    assert [i["key"] for i in first["items"]] == ["alpha.com"]
    second = crms.acme.get(
        "/v1/overlaps/records", params={**params, "cursor": first["next_cursor"]}
    ).json()
    assert [i["key"] for i in second["items"]] == ["gamma.org"]
    assert second["next_cursor"] is None
    assert second["items"][0]["mine"]["name"] == "Gamma"  # my own row, whole


def test_pii_lists_of_an_org_with_its_own_rule_show_core_partners_counts_only(eco, crms: Crms):
    """policies/orgs/example-pharma.polar narrows pii populations for non-strategic partners."""
    from tests.api.overlaps.conftest import ACME_CSV, ACME_SCHEMA, population
    from tests.fixtures.datasets import create_dataset, deposit

    eco.org("example-pharma", "core")
    eco.partnership("example-pharma", "globex", "research")
    pharma = eco.principal("example-pharma", "steward")
    dataset = create_dataset(pharma, "accounts", labels=["pii"], schema=ACME_SCHEMA)["id"]
    assert deposit(pharma, dataset, ACME_CSV).status_code == 201
    pid = population(
        pharma,
        dataset,
        {
            "name": "patients",
            "match": {"field": "domain", "normalize": "domain"},
            "sharing": {"level": "all", "fields": ["name"]},
        },
    )
    seen = cells(crms.globex, "example-pharma")
    assert {c["level"] for c in seen.values()} == {"counts"}
    records = crms.globex.get(
        "/v1/overlaps/records",
        params={"partner": "example-pharma", "mine": crms.globex_customers, "theirs": pid},
    )
    assert records.status_code == 403
