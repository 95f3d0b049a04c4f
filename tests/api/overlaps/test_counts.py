"""GET /v1/overlaps: exact counts of distinct normalized keys, across active partnerships only."""

from __future__ import annotations

from tests.api.overlaps.conftest import GLOBEX_CSV, Crms, cells
from tests.fixtures.datasets import deposit


def test_counts_are_distinct_normalized_keys_present_in_both(crms: Crms):
    seen = cells(crms.acme_member, "globex")
    # acme customers: alpha.com, beta.io, eu.epsilon.com; globex customers: alpha.com,
    # gamma.org, epsilon.com, zeta-greenfield.com (eu.epsilon.com is another domain).
    assert seen[("customers", "customers")]["count"] == 1
    assert seen[("customers", "opportunities")]["count"] == 1  # beta.io
    assert seen[("prospects", "customers")]["count"] == 1  # gamma.org
    assert seen[("prospects", "opportunities")]["count"] == 0
    assert seen[("customers", "customers")]["mine"]["size"] == 4  # the nameless row too
    assert seen[("customers", "customers")]["level"] == "counts"


def test_counts_are_the_same_seen_from_the_other_side(crms: Crms):
    theirs = cells(crms.globex_member, "acme")
    assert theirs[("customers", "customers")]["count"] == 1
    assert theirs[("opportunities", "customers")]["count"] == 1
    assert theirs[("customers", "prospects")]["count"] == 1


def test_a_new_deposit_changes_the_counts(crms: Crms):
    assert cells(crms.acme, "globex")[("prospects", "opportunities")]["count"] == 0
    more = GLOBEX_CSV + b"delta.net,Delta,open_opportunity,yan-secret-rep\r\n"
    assert deposit(crms.globex, crms.globex_dataset, more).status_code == 201
    assert cells(crms.acme, "globex")[("prospects", "opportunities")]["count"] == 1


def test_changing_a_population_changes_the_counts(crms: Crms):
    response = crms.globex.patch(
        f"/v1/populations/{crms.globex_customers}",
        json={"where": {"field": "status", "op": "in", "value": ["customer", "open_opportunity"]}},
    )
    assert response.status_code == 200, response.text
    assert cells(crms.acme, "globex")[("customers", "customers")]["count"] == 2


def test_a_third_organization_learns_nothing(crms: Crms):
    for partner in ("acme", "globex", "no-such-org"):
        response = crms.outsider.get("/v1/overlaps", params={"partner": partner})
        assert response.status_code == 404
        assert response.json()["type"].endswith("/not-found")
        assert "customers" not in response.text
    unknown = crms.outsider.get("/v1/overlaps", params={"partner": "no-such-org"}).json()
    known = crms.outsider.get("/v1/overlaps", params={"partner": "acme"}).json()
    assert unknown["detail"].replace("no-such-org", "X") == known["detail"].replace("acme", "X")


def test_an_ended_partnership_shows_nothing(crms: Crms, eco):
    ended = eco.operator.post(f"/v1/partnerships/{crms.partnership['id']}/end")
    assert ended.status_code == 200, ended.text
    assert crms.acme.get("/v1/overlaps", params={"partner": "globex"}).status_code == 404


def test_a_suspended_partner_shows_nothing(crms: Crms, eco):
    assert eco.operator.post("/v1/orgs/globex/suspend").status_code == 200
    assert crms.acme.get("/v1/overlaps", params={"partner": "globex"}).status_code == 404


def test_a_withdrawn_dataset_yields_no_cells(crms: Crms):
    withdrawn = crms.globex.post(f"/v1/datasets/{crms.globex_dataset}/withdraw")
    assert withdrawn.status_code == 200, withdrawn.text
    assert cells(crms.acme, "globex") == {}


def test_shredding_removes_the_cells_and_what_was_derived(crms: Crms, components):
    assert cells(crms.acme, "globex")  # computed and cached
    assert crms.globex_admin.delete(f"/v1/datasets/{crms.globex_dataset}").status_code == 200
    assert cells(crms.acme, "globex") == {}
    cache = components.overlaps.cache
    assert not any(
        crms.globex_dataset in key for entries in cache._entries.values() for key in entries
    )
