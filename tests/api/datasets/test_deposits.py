"""Deposits and downloads through HTTP, on the local store and on the S3 server."""

from __future__ import annotations

import base64
import json
import os

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from escrow.cli.main import cli
from escrow.components import Components
from storage.blobs import BlobStore
from storage.models import AuditEvent, DatasetVersion
from tests.fixtures.audit import log_session
from tests.fixtures.datasets import Partners, create_dataset, deposit, sha256

CSV = b"region,amount\nEU,10\nUS,20\n"


@pytest.fixture
def blobs(both_stores: BlobStore) -> BlobStore:
    return both_stores


def _versions(components: Components) -> list[DatasetVersion]:
    with components.db.session() as session:
        return list(session.scalars(select(DatasetVersion)))


def test_deposit_answers_a_signed_receipt_and_download_round_trips(
    partners: Partners, components: Components, blobs: BlobStore
) -> None:
    dataset = create_dataset(partners.steward)
    response = deposit(partners.steward, dataset["id"], CSV)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["version"], body["size"], body["sha256"]) == (1, len(CSV), sha256(CSV))
    receipt = body["receipt"]
    assert receipt["dataset_id"] == dataset["id"] and receipt["sha256"] == sha256(CSV)
    assert receipt["depositor"]["org"] == "acme" and receipt["signature"]
    assert receipt["attestation"]["rows"] == 2
    assert receipt["attestation"]["columns"] == ["region", "amount"]
    assert isinstance(receipt["audit_index"], int)
    # Stored encrypted: the plaintext is nowhere in the blob store.
    [key] = list(blobs.iter_keys("datasets/"))
    stored = b"".join(blobs.read(key))
    assert b"EU,10" not in stored and len(stored) > len(CSV)
    download = partners.member.get(f"/v1/datasets/{dataset['id']}/versions/1/content")
    assert download.status_code == 200 and download.content == CSV
    assert download.headers["etag"] == f'"sha256-{sha256(CSV)}"'
    assert download.headers["content-type"].startswith("text/csv")


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 5])
def test_boundary_sizes_round_trip(partners: Partners, size: int, blobs: BlobStore) -> None:
    data = os.urandom(size)
    dataset = create_dataset(partners.steward, media_type="application/octet-stream")
    response = partners.steward.post(
        f"/v1/datasets/{dataset['id']}/versions",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["receipt"]["attestation"] is None
    download = partners.steward.get(f"/v1/datasets/{dataset['id']}/versions/1/content")
    assert download.content == data


def test_ranges_are_served_from_the_covering_segments(partners: Partners, blobs) -> None:
    data = os.urandom(2 * (1 << 20) + 777)
    dataset = create_dataset(partners.steward, media_type="application/octet-stream")
    deposit(partners.steward, dataset["id"], data, **{"Content-Type": "application/octet-stream"})
    url = f"/v1/datasets/{dataset['id']}/versions/1/content"
    size = len(data)
    for header, expected in [
        ("bytes=0-0", data[:1]),
        ("bytes=100-199", data[100:200]),
        ((f"bytes={(1 << 20) - 3}-{(1 << 20) + 3}"), data[(1 << 20) - 3 : (1 << 20) + 4]),
        ("bytes=-500", data[-500:]),
        (f"bytes={size - 10}-", data[-10:]),
        (f"bytes=5-{size * 2}", data[5:]),
    ]:
        response = partners.member.get(url, headers={"Range": header})
        assert response.status_code == 206, header
        assert response.content == expected, header
        assert response.headers["content-range"].endswith(f"/{size}")
    unsatisfiable = partners.member.get(url, headers={"Range": f"bytes={size}-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-type"].startswith("application/problem+json")
    ignored = partners.member.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert ignored.status_code == 200 and ignored.content == data
    stale = partners.member.get(url, headers={"Range": "bytes=0-1", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.content == data


def test_versions_are_numbered_and_listed(partners: Partners, blobs) -> None:
    dataset = create_dataset(partners.steward)
    for i in range(3):
        data = CSV + f"EU,{i}\n".encode()
        assert deposit(partners.steward, dataset["id"], data).status_code == 201
    listed = partners.member.get(f"/v1/datasets/{dataset['id']}/versions").json()["items"]
    assert [v["version"] for v in listed] == [1, 2, 3]
    second = partners.member.get(f"/v1/datasets/{dataset['id']}/versions/2").json()
    assert second["sha256"] == sha256(CSV + b"EU,1\n")
    assert partners.member.get(f"/v1/datasets/{dataset['id']}").json()["versions"] == 3


def test_idempotent_retry_returns_the_first_result_and_stores_once(
    partners: Partners, components: Components, blobs: BlobStore
) -> None:
    dataset = create_dataset(partners.steward)
    first = deposit(partners.steward, dataset["id"], CSV, **{"Idempotency-Key": "upload-7"})
    again = deposit(partners.steward, dataset["id"], CSV, **{"Idempotency-Key": "upload-7"})
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert len(_versions(components)) == 1 and len(list(blobs.iter_keys())) == 1


def test_sha256_mismatch_is_422_and_keeps_nothing(
    partners: Partners, components: Components, blobs: BlobStore
) -> None:
    dataset = create_dataset(partners.steward)
    response = deposit(partners.steward, dataset["id"], CSV, **{"X-Content-SHA256": "0" * 64})
    assert response.status_code == 422 and response.json()["actual"] == sha256(CSV)
    assert _versions(components) == [] and list(blobs.iter_keys()) == []
    ok = deposit(partners.steward, dataset["id"], CSV, **{"X-Content-SHA256": sha256(CSV)})
    assert ok.status_code == 201
    malformed = deposit(partners.steward, dataset["id"], CSV, **{"X-Content-SHA256": "xyz"})
    assert malformed.status_code == 422


def test_size_limit_answers_413_and_keeps_nothing(
    partners: Partners, components: Components, blobs: BlobStore, settings_env, db, clock
) -> None:
    from litestar.testing import TestClient

    from escrow.app import build_components, create_app
    from escrow.config import load_settings

    limited = build_components(
        load_settings({**settings_env, "ESCROW_MAX_DEPOSIT_BYTES": "1000"}),
        clock=clock,
        db=db,
        blobs=blobs,
    )
    dataset = create_dataset(partners.steward)
    with TestClient(create_app(limited)) as client:
        url = f"/v1/datasets/{dataset['id']}/versions"
        declared = client.post(url, content=b"x" * 1001, headers=partners.steward.headers)
        assert declared.status_code == 413

        def chunked():
            for _ in range(5):
                yield b"y" * 400

        streamed = client.post(url, content=chunked(), headers=partners.steward.headers)
        assert streamed.status_code == 413
    assert _versions(components) == [] and list(blobs.iter_keys()) == []


def test_receipt_verifies_offline_and_detects_tampering(
    partners: Partners, tmp_path, blobs
) -> None:
    dataset = create_dataset(partners.steward)
    receipt = deposit(partners.steward, dataset["id"], CSV).json()["receipt"]
    key = partners.member.client.get("/v1/keys/signing").json()
    (tmp_path / "key.pem").write_text(key["public_key_pem"])
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    runner = CliRunner()
    ok = runner.invoke(
        cli,
        [
            "receipt",
            "verify",
            str(tmp_path / "receipt.json"),
            "--public-key",
            str(tmp_path / "key.pem"),
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert sha256(CSV) in ok.output
    receipt["size"] += 1
    (tmp_path / "forged.json").write_text(json.dumps(receipt))
    bad = runner.invoke(
        cli,
        [
            "receipt",
            "verify",
            str(tmp_path / "forged.json"),
            "--public-key",
            str(tmp_path / "key.pem"),
        ],
    )
    assert bad.exit_code == 1 and "signature" in bad.output.lower()
    assert base64.b64decode(key["public_key"]) and key["algorithm"] == "Ed25519"


def test_deposit_and_download_are_audited(
    partners: Partners, components: Components, blobs
) -> None:
    dataset = create_dataset(partners.steward)
    receipt = deposit(partners.steward, dataset["id"], CSV).json()["receipt"]
    partners.member.get(
        f"/v1/datasets/{dataset['id']}/versions/1/content", headers={"Range": "bytes=0-3"}
    )
    with log_session(components) as session:
        events = {e.seq: e for e in session.scalars(select(AuditEvent))}
    deposited = events[receipt["audit_index"]]
    assert (deposited.action, deposited.outcome) == ("dataset.deposit", "success")
    assert json.loads(deposited.entry)["details"]["sha256"] == sha256(CSV)
    download = max(events.values(), key=lambda e: e.seq)
    details = json.loads(download.entry)["details"]
    assert download.action == "dataset.download" and details["range"] == [0, 4]
    assert details["sha256"] == sha256(CSV)


def test_shred_destroys_keys_and_blobs_and_content_is_gone(
    partners: Partners, components: Components, blobs: BlobStore
) -> None:
    dataset = create_dataset(partners.steward)
    deposit(partners.steward, dataset["id"], CSV)
    deposit(partners.steward, dataset["id"], CSV + b"EU,30\n")
    assert partners.steward.delete(f"/v1/datasets/{dataset['id']}").status_code == 403
    shredded = partners.admin.delete(f"/v1/datasets/{dataset['id']}")
    assert shredded.status_code == 200 and shredded.json()["status"] == "shredded"
    assert list(blobs.iter_keys()) == []
    assert all(v.wrapped_dek is None and v.kek_id is None for v in _versions(components))
    gone = partners.admin.get(f"/v1/datasets/{dataset['id']}/versions/1/content")
    assert gone.status_code == 410 and gone.json()["type"].endswith("/gone")
    # Metadata and receipts stay for the record.
    meta = partners.member.get(f"/v1/datasets/{dataset['id']}/versions/2").json()
    assert meta["shredded"] is True and meta["receipt"]["signature"]
    assert partners.admin.delete(f"/v1/datasets/{dataset['id']}").status_code == 409
    assert deposit(partners.steward, dataset["id"], CSV).status_code == 409


def test_withdrawn_dataset_takes_no_new_versions(partners: Partners, blobs) -> None:
    dataset = create_dataset(partners.steward)
    deposit(partners.steward, dataset["id"], CSV)
    assert partners.member.post(f"/v1/datasets/{dataset['id']}/withdraw").status_code == 403
    withdrawn = partners.steward.post(f"/v1/datasets/{dataset['id']}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert deposit(partners.steward, dataset["id"], CSV).status_code == 409
    assert partners.steward.post(f"/v1/datasets/{dataset['id']}/withdraw").status_code == 409
    # The owner keeps its own copy.
    own = partners.member.get(f"/v1/datasets/{dataset['id']}/versions/1/content")
    assert own.status_code == 200 and own.content == CSV
