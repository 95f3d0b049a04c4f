"""Dataset use cases through the service layer (no HTTP): create, deposit, download, refuse,
withdraw and shred, on real PostgreSQL and the local blob store."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import select

from crypto import verify_document
from escrow.components import Components
from escrow.datasets.results import Version
from escrow.datasets.service import DatasetService
from escrow.errors import (
    ForbiddenError,
    GoneError,
    InvalidStateError,
    NotFoundError,
    ValidationError,
)
from storage.models import Dataset, DatasetVersion
from tests.fixtures.api import Caller
from tests.fixtures.datasets import Partners, sha256
from tests.unit.services.acting import audit_events, authenticated_as, context_of, orgs_of
from tests.unit.services.deposits import CSV, create, deposit

MISSING = "00000000-0000-0000-0000-000000000000"


def download(components: Components, caller: Caller, dataset_id: str, rng: str | None) -> bytes:
    with authenticated_as(components, caller) as deps:
        content = components.contents.open(DatasetService(deps), dataset_id, 1, rng)
        return b"".join(content.chunks)


def test_a_chunked_deposit_gets_a_signed_receipt_of_its_digest_and_audit_index(
    partners: Partners, components: Components
) -> None:
    dataset_id = create(components, partners.steward)
    chunks = [CSV[:5], CSV[5:17], CSV[17:]]  # cut mid-row: the digest is the body's
    deposited = deposit(components, partners.steward, dataset_id, chunks)
    assert isinstance(deposited.version, Version)  # a result, not a row of the closed session
    receipt = verify_document(
        deposited.version.receipt, components.keyring.service_signer.public_key
    )
    assert (receipt["dataset_id"], receipt["version"]) == (dataset_id, 1)
    assert receipt["sha256"] == sha256(CSV) == deposited.version.sha256
    assert receipt["size"] == len(CSV) and receipt["depositor"]["org"] == "acme"
    assert receipt["attestation"]["rows"] == 2
    assert receipt["attestation"]["columns"] == ["region", "amount"]
    (event,) = audit_events(components, "dataset.deposit")
    assert (event.seq, event.outcome, event.resource_id) == (
        receipt["audit_index"],
        "success",
        dataset_id,
    )
    with components.db.session() as session:
        assert session.get_one(Dataset, dataset_id).version_count == 1


def test_a_deposit_downloads_back_whole_and_by_range_and_each_read_is_audited(
    partners: Partners, components: Components
) -> None:
    dataset_id = create(components, partners.steward)
    deposit(components, partners.steward, dataset_id, [CSV])
    assert download(components, partners.member, dataset_id, None) == CSV
    assert download(components, partners.member, dataset_id, "bytes=14-") == CSV[14:]
    reads = audit_events(components, "dataset.download")
    assert [e.actor_id for e in reads] == [partners.member.id] * 2
    assert [e.outcome for e in reads] == ["success", "success"]


def test_an_outsider_is_refused_alike_whether_the_dataset_exists_or_not(
    partners: Partners, components: Components
) -> None:
    dataset_id = create(components, partners.steward)
    deposit(components, partners.steward, dataset_id, [CSV])
    refusals = []
    for target in (dataset_id, MISSING):
        with pytest.raises(NotFoundError) as refused:
            download(components, partners.outsider, target, None)
        refusals.append(str(refused.value).replace(target, "<id>"))
    assert refusals[0] == refusals[1]
    denials = [e for e in audit_events(components, "download") if e.outcome == "denied"]
    assert [e.resource_id for e in denials] == [dataset_id, MISSING]
    outsider_org = context_of(components, partners.outsider).principal.org_id
    assert [orgs_of(components, e.seq) for e in denials] == [{outsider_org}] * 2
    concealed = audit_events(components, "authz.concealed_target")
    assert [orgs_of(components, e.seq) for e in concealed] == [set(), set()]  # operators only
    assert not audit_events(components, "dataset.download")


def test_a_body_unlike_its_declared_digest_is_refused_and_nothing_is_kept(
    partners: Partners, components: Components
) -> None:
    dataset_id = create(components, partners.steward)
    with pytest.raises(ValidationError):
        deposit(components, partners.steward, dataset_id, [CSV], expected_sha256="0" * 64)
    (failed,) = audit_events(components, "dataset.deposit")
    assert (failed.outcome, failed.reason) == ("failed", "sha256_mismatch")
    with components.db.session() as session:
        assert session.get_one(Dataset, dataset_id).version_count == 0
    assert list(components.blobs.iter_keys(f"datasets/{dataset_id}/")) == []
    # the refused body was scanned on a thread of its own: stopped with the deposit
    assert not [t for t in threading.enumerate() if t.name.startswith("deposit-scan")]


def test_deposits_racing_into_one_dataset_take_consecutive_numbers_and_indexes(
    partners: Partners, components: Components
) -> None:
    """Eight threads of this process deposit into one dataset at once: they take turns for
    the dataset's row and the log's head (AuditLog.indexing), and each version gets its own
    number and its own audit index."""
    dataset_id = create(components, partners.steward)
    start = threading.Barrier(8)
    receipts: list[dict[str, Any] | None] = []

    def depositing() -> None:
        start.wait()
        for _ in range(3):
            receipts.append(
                deposit(components, partners.steward, dataset_id, [CSV]).version.receipt
            )

    threads = [threading.Thread(target=depositing) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert None not in receipts
    signed = [receipt for receipt in receipts if receipt is not None]
    assert sorted(r["version"] for r in signed) == list(range(1, 25))
    events = audit_events(components, "dataset.deposit")
    by_index = {event.seq: event for event in events}
    assert sorted(by_index) == sorted(r["audit_index"] for r in signed)
    for receipt in signed:
        assert by_index[receipt["audit_index"]].resource_id == dataset_id


def test_a_withdrawn_dataset_takes_no_new_versions_but_its_owner_still_reads_it(
    partners: Partners, components: Components
) -> None:
    dataset_id = create(components, partners.steward)
    deposit(components, partners.steward, dataset_id, [CSV])
    with authenticated_as(components, partners.steward) as deps:
        dataset = DatasetService(deps).withdraw(dataset_id)
    assert (dataset.status, dataset.owner) == ("withdrawn", "acme")
    with pytest.raises(InvalidStateError):
        deposit(components, partners.steward, dataset_id, [CSV])
    assert download(components, partners.steward, dataset_id, None) == CSV
    (withdrawn,) = audit_events(components, "dataset.withdraw")
    assert withdrawn.actor_id == partners.steward.id


def test_only_an_admin_shreds_and_then_keys_blobs_and_downloads_are_gone(
    partners: Partners, components: Components
) -> None:
    dataset_id = create(components, partners.steward)
    deposit(components, partners.steward, dataset_id, [CSV])
    with authenticated_as(components, partners.member) as deps, pytest.raises(ForbiddenError):
        DatasetService(deps).shred(dataset_id, components.blobs, components.db)
    with authenticated_as(components, partners.admin) as deps:
        DatasetService(deps).shred(dataset_id, components.blobs, components.db)
    with pytest.raises(GoneError):
        download(components, partners.steward, dataset_id, None)
    with components.db.session() as session:
        version = session.scalars(
            select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)
        ).one()
        assert (version.wrapped_dek, version.kek_id) == (None, None)
    assert list(components.blobs.iter_keys(f"datasets/{dataset_id}/")) == []
    (denied,) = [e for e in audit_events(components, "shred") if e.outcome == "denied"]
    assert denied.actor_id == partners.member.id
    (shredded,) = audit_events(components, "dataset.shred")
    assert shredded.actor_id == partners.admin.id
