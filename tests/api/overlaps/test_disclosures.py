"""Every overlap read is audited in both organizations' scope; the disclosure ledger sums them."""

from __future__ import annotations

import json

from sqlalchemy import select

from storage.models import AuditEvent
from tests.api.overlaps.conftest import Crms
from tests.fixtures.audit import log_session


def test_the_ledger_shows_what_a_partner_was_shown_of_my_data(crms: Crms, components):
    crms.share(crms.globex, crms.globex_customers, "acme", "overlaps", fields=["company"])
    assert crms.acme.get("/v1/overlaps", params={"partner": "globex"}).status_code == 200
    records = crms.acme.get(
        "/v1/overlaps/records",
        params={"partner": "globex", "mine": crms.acme_customers, "theirs": crms.globex_customers},
    )
    assert records.status_code == 200
    response = crms.globex_member.get("/v1/overlaps/disclosures", params={"partner": "acme"})
    assert response.status_code == 200, response.text
    ledger = response.json()
    assert ledger["partner"] == "acme"
    lines = {line["population"]["name"]: line for line in ledger["items"]}
    customers = lines["customers"]
    assert customers["reads"] == 3  # two cells of the counts read, one records read
    assert customers["counts"] == [1]
    assert customers["records"] == 1
    assert customers["fields"] == ["company"]
    with log_session(components) as session:
        events = {
            seq: json.loads(entry)
            for seq, entry in session.execute(
                select(AuditEvent.seq, AuditEvent.entry).where(
                    AuditEvent.seq.in_(customers["events"])
                )
            )
        }
    assert {e["action"] for e in events.values()} == {"overlaps.counts", "overlaps.records"}
    for event in events.values():
        assert len(event["orgs"]) == 2  # the reader's and the owner's scope
        assert "ALPHA" not in json.dumps(event) and "alpha.com" not in json.dumps(event)


def test_audit_events_of_reads_carry_counts_and_field_names_never_values(crms: Crms, components):
    crms.share(crms.globex, crms.globex_customers, "acme", "all", fields=["company", "rep"])
    crms.acme.get(
        "/v1/overlaps/greenfield", params={"partner": "globex", "theirs": crms.globex_customers}
    )
    with log_session(components) as session:
        entry = session.scalar(
            select(AuditEvent.entry)
            .where(AuditEvent.action == "overlaps.greenfield")
            .order_by(AuditEvent.seq.desc())
        )
    assert entry is not None
    event = json.loads(entry)
    disclosed = event["details"]["disclosed"][0]
    assert disclosed["fields"] == ["company", "rep"] and disclosed["records"] == 2
    assert "secret-rep" not in entry and "Zeta" not in entry


def test_denied_reads_are_audited_and_ledgers_stay_private(crms: Crms, components):
    params = {"partner": "globex", "mine": crms.acme_customers, "theirs": crms.globex_customers}
    assert crms.acme.get("/v1/overlaps/records", params=params).status_code == 403
    with log_session(components) as session:
        denied = session.scalar(
            select(AuditEvent.reason).where(
                AuditEvent.action == "overlaps.records", AuditEvent.outcome == "denied"
            )
        )
    assert denied == "sharing_level"
    assert (
        crms.outsider.get("/v1/overlaps/disclosures", params={"partner": "acme"}).status_code == 404
    )


def test_overlap_reads_count_as_interactions_with_the_partner(crms: Crms, eco, clock):
    admin = eco.principal("acme", "admin")
    eco.advance(clock, seconds=1)  # report windows end at now, exclusive
    before = admin.get("/v1/ecosystem/metrics", params={"org": "acme"}).json()
    crms.acme.get("/v1/overlaps", params={"partner": "globex"})
    eco.advance(clock, seconds=1)
    after = admin.get("/v1/ecosystem/metrics", params={"org": "acme"}).json()

    def interactions(report):
        found = [p["interactions"] for p in report["partners"] if p["org"] == "globex"]
        return found[0] if found else 0

    assert interactions(after) == interactions(before) + 1
