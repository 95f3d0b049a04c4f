"""The Delta Sharing protocol through HTTP: catalog, query, signed files, ends of access."""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow.parquet as pq
from sqlalchemy import func, select

from escrow.clock import FrozenClock
from escrow.components import Components
from escrow.keys.service import KekRotation
from storage.models import AuditEvent, SharingFile
from tests.api.sharing.conftest import Recipient, Sharing
from tests.fixtures.audit import log_session

TABLE = "/shares/acme/schemas/default/tables/q3-sales"


def _lines(response: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines()]


def _file_path(url: str) -> str:
    return url[url.index("/delta-sharing/") :]


def test_recipient_lists_the_share_schema_and_table_of_a_release(
    sharing: Sharing, recipient: Recipient
) -> None:
    _, agreement_id = sharing.release()
    shares = recipient.get("/shares")
    assert shares.status_code == 200
    assert [s["name"] for s in shares.json()["items"]] == ["acme"]
    assert recipient.get("/shares/ACME").json()["share"]["name"] == "acme"
    schemas = recipient.get("/shares/acme/schemas").json()
    assert schemas["items"] == [{"name": "default", "share": "acme"}]
    tables = recipient.get("/shares/acme/schemas/default/tables").json()["items"]
    assert [(t["name"], t["schema"], t["share"], t["id"]) for t in tables] == [
        ("q3-sales", "default", "acme", agreement_id)
    ]
    assert recipient.get("/shares/acme/all-tables").json()["items"] == tables
    version = recipient.get(TABLE + "/version")
    assert version.status_code == 200 and version.headers["delta-table-version"] == "1"


def test_query_serves_the_view_as_parquet_with_exact_size_ranges_and_head(
    sharing: Sharing, recipient: Recipient, client: Any
) -> None:
    sharing.release()
    response = recipient.post(TABLE + "/query", json={})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert response.headers["delta-table-version"] == "1"
    protocol, metadata, file_line = _lines(response)
    assert protocol == {"protocol": {"minReaderVersion": 1}}
    schema = json.loads(metadata["metaData"]["schemaString"])
    assert [(f["name"], f["type"]) for f in schema["fields"]] == [
        ("region", "string"),
        ("amount", "long"),
    ]
    file = file_line["file"]
    assert json.loads(file["stats"])["numRecords"] == 2
    path = _file_path(file["url"])
    head = client.head(path)
    assert head.status_code == 200 and int(head.headers["content-length"]) == file["size"]
    whole = client.get(path)
    assert whole.status_code == 200 and len(whole.content) == file["size"]
    table = pq.read_table(io.BytesIO(whole.content))
    assert table.to_pylist() == [{"region": "EU", "amount": 10}, {"region": "EU", "amount": 30}]
    footer = client.get(path, headers={"Range": "bytes=-8"})
    assert footer.status_code == 206 and footer.content == whole.content[-8:]
    assert (
        footer.headers["content-range"]
        == f"bytes {file['size'] - 8}-{file['size'] - 1}/{file['size']}"
    )
    for secret in (b"customer", b"alice", b"APAC", b"US"):
        assert secret not in whole.content


def test_each_file_is_one_download_event_per_query_not_per_range(
    sharing: Sharing, recipient: Recipient, client: Any, components: Components
) -> None:
    sharing.release()

    def downloads() -> int:
        with log_session(components) as session:
            return int(
                session.scalar(select(func.count()).where(AuditEvent.action == "dataset.download"))
                or 0
            )

    first = _file_path(_lines(recipient.post(TABLE + "/query", json={}))[2]["file"]["url"])
    for header in ("bytes=-8", "bytes=0-3", "bytes=4-"):
        assert client.get(first, headers={"Range": header}).status_code == 206
    assert downloads() == 1
    second = _file_path(_lines(recipient.post(TABLE + "/query", json={}))[2]["file"]["url"])
    assert client.get(second).status_code == 200
    assert downloads() == 2
    with log_session(components) as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "dataset.download")
        ).first()
        assert event is not None
        details = json.loads(event.entry)["details"]
    assert details["channel"] == "delta-sharing" and details["rows"] == 2


def test_a_second_version_is_the_latest_and_the_first_stays_queryable(
    sharing: Sharing, recipient: Recipient, client: Any
) -> None:
    dataset, _ = sharing.release()
    more = b"region,amount,customer\r\nEU,99,zed\r\n"
    assert (
        sharing.steward.post(
            f"/v1/datasets/{dataset['id']}/versions",
            content=more,
            headers={"Content-Type": "text/csv"},
        ).status_code
        == 201
    )
    assert recipient.get(TABLE + "/version").headers["delta-table-version"] == "2"
    latest = _lines(recipient.post(TABLE + "/query", json={}))
    rows = pq.read_table(io.BytesIO(client.get(_file_path(latest[2]["file"]["url"])).content))
    assert rows.to_pylist() == [{"region": "EU", "amount": 99}]
    older = recipient.post(TABLE + "/query", json={"version": 1})
    assert older.headers["delta-table-version"] == "1"
    first = _lines(older)[2]["file"]
    assert first["version"] == 1
    assert pq.read_table(io.BytesIO(client.get(_file_path(first["url"])).content)).num_rows == 2
    unknown = recipient.post(TABLE + "/query", json={"version": 3})
    assert unknown.status_code == 400
    assert unknown.json()["errorCode"] == "INVALID_PARAMETER_VALUE"


def test_revocation_removes_the_table_kills_its_urls_and_deletes_the_file(
    sharing: Sharing, recipient: Recipient, client: Any, components: Components
) -> None:
    _, agreement_id = sharing.release()
    url = _file_path(_lines(recipient.post(TABLE + "/query", json={}))[2]["file"]["url"])
    with components.db.session() as session:
        blob_key = session.scalars(select(SharingFile.blob_key)).one()
    assert components.blobs.exists(blob_key)
    revoked = sharing.steward.post(f"/v1/agreements/{agreement_id}/revoke", json={"reason": "x"})
    assert revoked.status_code == 200, revoked.text
    assert recipient.get("/shares").json()["items"] == []
    gone = recipient.get(TABLE + "/version")
    assert gone.status_code == 404 and gone.json()["errorCode"] == "RESOURCE_DOES_NOT_EXIST"
    refused = client.get(url)
    assert refused.status_code == 403 and refused.json()["errorCode"] == "PERMISSION_DENIED"
    assert client.get(url, headers={"Range": "bytes=0-3"}).content.find(b"PAR1") == -1
    with components.db.session() as session:
        assert session.scalar(select(func.count()).select_from(SharingFile)) == 0
    assert not components.blobs.exists(blob_key)


def test_expired_and_tampered_file_urls_are_refused(
    sharing: Sharing, recipient: Recipient, client: Any, clock: FrozenClock
) -> None:
    sharing.release()
    url = _file_path(_lines(recipient.post(TABLE + "/query", json={}))[2]["file"]["url"])
    token = url.rsplit("token=", 1)[1]
    body, signature = token.split(".")
    tampered = f"{url.rsplit('token=', 1)[0]}token={body[:-2]}AA.{signature}"
    assert client.get(tampered).json()["errorCode"] == "PERMISSION_DENIED"
    clock.advance(seconds=901)
    expired = client.get(url)
    assert expired.status_code == 403
    assert expired.json() == {
        "errorCode": "PERMISSION_DENIED",
        "message": "this file URL has expired",
    }


def test_another_organizations_profile_sees_nothing(sharing: Sharing, client: Any) -> None:
    sharing.release()
    other = Recipient(client, sharing.profile(sharing.outsider_admin))
    assert other.get("/shares").json()["items"] == []
    missing = other.get(TABLE + "/metadata")
    assert missing.status_code == 404
    assert missing.json()["errorCode"] == "RESOURCE_DOES_NOT_EXIST"


def test_key_rotation_rewraps_sharing_files_and_they_still_serve(
    sharing: Sharing, recipient: Recipient, client: Any, components: Components
) -> None:
    sharing.release()
    url = _file_path(_lines(recipient.post(TABLE + "/query", json={}))[2]["file"]["url"])
    before = client.get(url).content
    old_kek = components.keyring.active_kek_id
    keks = KekRotation(components.db, components.keyring, components.audit)
    rotation = keks.rotate()
    assert rotation.rewrapped >= 2  # the version and its sharing file
    keks.retire(old_kek)
    with components.db.session() as session:
        assert set(session.scalars(select(SharingFile.kek_id))) == {rotation.new_kek_id}
    assert client.get(url).content == before
