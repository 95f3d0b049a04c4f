"""Audit trail use cases through the service layer (no HTTP): scoped reads, proofs that
verify with crypto.merkle, and checkpoints signed under the published key."""

from __future__ import annotations

import json

import pytest

from crypto import (
    Checkpoint,
    CryptoError,
    leaf_hash,
    open_note,
    parse_verifier_key,
    verify_consistency,
    verify_inclusion,
)
from escrow.audit.events import EventFilter
from escrow.audit.export import bundle_chunks
from escrow.auditing.service import AuditService
from escrow.components import Components
from escrow.errors import ForbiddenError, NotFoundError, ValidationError
from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.datasets import Partners
from tests.unit.services.acting import audit_events, authenticated_as, context_of, orgs_of
from tests.unit.services.deposits import create

EVERYTHING = EventFilter()


def events_seen(components: Components, caller: Caller, org: str | None = None) -> list[int]:
    with authenticated_as(components, caller) as deps:
        page = AuditService(deps, components.trail).list_events(EVERYTHING, org, None, 200)
        assert page.next_cursor is None
        return [found.seq for found in page.items]


def signed_checkpoint(components: Components, caller: Caller) -> Checkpoint:
    """The current checkpoint, opened with the verifier key the service publishes."""
    with authenticated_as(components, caller) as deps:
        service = AuditService(deps, components.trail)
        note, key = service.checkpoint().note, service.public_key()
    return Checkpoint.parse(open_note(note, parse_verifier_key(key)))


def test_an_org_reads_exactly_the_events_that_touch_it(
    partners: Partners, components: Components
) -> None:
    mine = create(components, partners.steward, "mine")
    theirs = create(components, partners.outsider, "theirs")
    acme = context_of(components, partners.auditor).principal.org_id
    seen = events_seen(components, partners.auditor)
    assert seen and all(acme in orgs_of(components, seq) for seq in seen)
    created = {e.resource_id: e.seq for e in audit_events(components, "dataset.create")}
    assert created[mine] in seen and created[theirs] not in seen
    everything = events_seen(components, partners.operator)
    assert set(seen) < set(everything) and created[theirs] in everything
    with pytest.raises(ForbiddenError):  # a member of acme does not read its trail
        events_seen(components, partners.member)


def test_another_orgs_trail_is_concealed_whether_the_org_exists_or_not(
    partners: Partners, components: Components
) -> None:
    refusals = []
    for org in ("globex", "no-such-org"):
        with pytest.raises(NotFoundError) as refused:
            events_seen(components, partners.admin, org)
        refusals.append(str(refused.value).replace(org, "<org>"))
    assert refusals[0] == refusals[1]
    denials = [e for e in audit_events(components, "read") if e.resource_type == "audit_log"]
    assert [(e.actor_id, e.outcome) for e in denials] == [(partners.admin.id, "denied")] * 2
    assert events_seen(components, partners.admin, "acme") == events_seen(
        components, partners.admin
    )


def test_each_readable_event_has_an_inclusion_proof_under_the_signed_checkpoint(
    partners: Partners, components: Components
) -> None:
    create(components, partners.steward)
    checkpoint = signed_checkpoint(components, partners.member)  # the tree is anyone's
    with authenticated_as(components, partners.auditor) as deps:
        service = AuditService(deps, components.trail)
        found = service.list_events(EVERYTHING, None, None, 200).items
        assert found
        for event in found:
            proof = service.inclusion(event.seq, None)
            assert proof.tree_size == checkpoint.size
            assert proof.leaf_hash == event.leaf_hash == leaf_hash(event.entry.encode())
            verify_inclusion(
                event.seq, proof.tree_size, proof.leaf_hash, proof.proof, checkpoint.root_hash
            )


def test_an_earlier_checkpoint_is_proven_a_prefix_of_a_later_one(
    partners: Partners, components: Components, eco: Ecosystem
) -> None:
    first = signed_checkpoint(components, partners.member)
    create(components, partners.steward)
    eco.org("initech")
    second = signed_checkpoint(components, partners.member)
    assert first.size < second.size
    with authenticated_as(components, partners.member) as deps:
        proof = AuditService(deps, components.trail).consistency(first.size, second.size)
    verify_consistency(first.size, second.size, proof, first.root_hash, second.root_hash)
    with pytest.raises(CryptoError):
        verify_consistency(first.size, second.size, proof, second.root_hash, first.root_hash)


def test_a_checkpoint_altered_after_signing_does_not_open(
    partners: Partners, components: Components
) -> None:
    with authenticated_as(components, partners.member) as deps:
        service = AuditService(deps, components.trail)
        note, key = service.checkpoint().note, service.public_key()
    origin, size, rest = note.split("\n", 2)
    forged = "\n".join([origin, str(int(size) + 1), rest])
    with pytest.raises(CryptoError):
        open_note(forged, parse_verifier_key(key))


def test_proofs_beyond_the_tree_are_refused(partners: Partners, components: Components) -> None:
    size = signed_checkpoint(components, partners.member).size
    with authenticated_as(components, partners.member) as deps:
        service = AuditService(deps, components.trail)
        with pytest.raises(ValidationError):
            service.inclusion(size, None)
        with pytest.raises(ValidationError):
            service.inclusion(0, size + 1_000)
        with pytest.raises(ValidationError):
            service.consistency(2, 1)


@pytest.mark.parametrize("scope", ["full", "org"])
def test_export_lines_do_not_depend_on_the_batch_size(
    partners: Partners, components: Components, scope: str
) -> None:
    """Windows and pages end on every batch boundary; the bundle is the same line for line."""
    create(components, partners.steward, "one")
    create(components, partners.outsider, "two")
    create(components, partners.steward, "three")
    caller = partners.auditor if scope == "org" else partners.operator
    with authenticated_as(components, caller) as deps:
        plan = AuditService(deps, components.trail).plan_export(None)
    assert plan.scope == scope

    def lines(batch: int) -> list[bytes]:
        chunks = list(bundle_chunks(components.trail.db, plan, batch=batch))
        return b"".join(chunks).splitlines()

    whole = lines(10_000)
    events = [json.loads(line) for line in whole[1:-1]]
    indexes = [event["index"] for event in events]
    assert indexes == sorted(indexes) and len(indexes) == len(set(indexes)) > 3
    assert json.loads(whole[-1]) == {"end": True, "events": len(events)}
    if scope == "full":
        assert indexes == list(range(plan.checkpoint.size))
    else:
        assert all("proof" in event for event in events)
        assert indexes == events_seen(components, caller)[: len(indexes)]
    for batch in (1, 2, 3, 7):
        assert lines(batch) == whole
