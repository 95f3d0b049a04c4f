"""The real ``delta-sharing`` Python connector against a live server, as a BI team uses it."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import delta_sharing
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from delta_sharing.protocol import DeltaSharingProfile, Table
from delta_sharing.rest_client import DataSharingRestClient
from requests.exceptions import HTTPError

from crypto import Keyring
from escrow.sharing.signed_urls import FileClaims, UrlSigner
from tests.fixtures.live import LiveServer
from tests.interop.conftest import Partners

CSV = (
    b'region,amount,customer\r\nEU,10,alice\r\nUS,20,bob\r\nEU,30,"carol, inc"\r\nAPAC,40,dave\r\n'
)
EU_ROWS = pd.DataFrame({"region": ["EU", "EU"], "amount": [10, 30]})


def _jsonl() -> bytes:
    rows = [
        {"region": "EU", "amount": 10, "customer": "alice"},
        {"region": "US", "amount": 20, "customer": "bob"},
        {"region": "EU", "amount": 30, "customer": "carol, inc"},
    ]
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def _parquet() -> bytes:
    table = pa.table(
        {"region": ["EU", "US", "EU"], "amount": [10, 20, 30], "customer": ["a", "b", "c"]}
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _url(profile: Path, partners: Partners, table: str) -> str:
    return f"{profile}#{partners.owner}.default.{table}"


def _rows(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    return [tuple(row) for row in frame.itertuples(index=False)]


@pytest.mark.parametrize(
    ("media_type", "data"),
    [
        ("text/csv", CSV),
        ("application/x-ndjson", _jsonl()),
        ("application/vnd.apache.parquet", _parquet()),
    ],
)
def test_load_as_pandas_equals_the_released_view_row_for_row(
    partners: Partners, tmp_path: Path, media_type: str, data: bytes
) -> None:
    partners.release("q3-sales", data, media_type)
    profile = partners.profile(partners.partner_admin, tmp_path / "profile.share")
    tables = delta_sharing.SharingClient(str(profile)).list_all_tables()
    assert [(t.share, t.schema, t.name) for t in tables] == [
        (partners.owner, "default", "q3-sales")
    ]
    frame = delta_sharing.load_as_pandas(_url(profile, partners, "q3-sales"))
    assert list(frame.columns) == ["region", "amount"]
    assert _rows(frame) == _rows(EU_ROWS)
    limited = delta_sharing.load_as_pandas(_url(profile, partners, "q3-sales"), limit=1)
    assert _rows(limited) == [("EU", 10)]


def test_a_second_version_is_read_by_default_and_the_first_by_version(
    partners: Partners, tmp_path: Path
) -> None:
    dataset, _ = partners.release("orders", CSV)
    partners.deposit(dataset, b"region,amount,customer\r\nEU,99,zed\r\nUS,1,yan\r\n")
    profile = partners.profile(partners.partner_admin, tmp_path / "profile.share")
    url = _url(profile, partners, "orders")
    assert delta_sharing.get_table_version(url) == 2
    assert _rows(delta_sharing.load_as_pandas(url)) == [("EU", 99)]
    assert _rows(delta_sharing.load_as_pandas(url, version=1)) == _rows(EU_ROWS)


def test_revocation_makes_the_table_vanish(partners: Partners, tmp_path: Path) -> None:
    _, agreement = partners.release("churn", CSV)
    profile = partners.profile(partners.partner_admin, tmp_path / "profile.share")
    client = delta_sharing.SharingClient(str(profile))
    assert [t.name for t in client.list_all_tables()] == ["churn"]
    partners.steward.call("POST", f"/v1/agreements/{agreement}/revoke", json={"reason": "ended"})
    assert client.list_all_tables() == []
    with pytest.raises(HTTPError) as refused:
        delta_sharing.load_as_pandas(_url(profile, partners, "churn"))
    assert refused.value.response.status_code == 404


def test_another_organizations_profile_sees_nothing(partners: Partners, tmp_path: Path) -> None:
    partners.release("pipeline", CSV)
    profile = partners.profile(partners.outsider_admin, tmp_path / "other.share")
    assert delta_sharing.SharingClient(str(profile)).list_all_tables() == []
    with pytest.raises(HTTPError) as refused:
        delta_sharing.load_as_pandas(_url(profile, partners, "pipeline"))
    assert refused.value.response.status_code == 404


def test_an_expired_signed_url_is_refused(
    partners: Partners, tmp_path: Path, live_server: LiveServer
) -> None:
    partners.release("forecast", CSV)
    profile = partners.profile(partners.partner_admin, tmp_path / "profile.share")
    rest = DataSharingRestClient(DeltaSharingProfile.read_from_file(str(profile)))
    try:
        listed = rest.list_files_in_table(Table("forecast", partners.owner, "default"))
    finally:
        rest.close()
    url = listed.add_files[0].url
    assert delta_sharing.load_as_pandas(_url(profile, partners, "forecast")).shape == (2, 2)
    # The same claims, signed by the server's own key, an hour in the past.
    token = url.split("token=", 1)[1]
    signer = UrlSigner.derived(Keyring.load(live_server.env["ESCROW_KEYRING"]).keyed_digest)
    body = json.loads(_unb64(token.split(".")[0]))
    expired = signer.sign(FileClaims(**{**body, "expires": body["expires"] - 3600 - 900}))
    response = partners.http.get(url.split("token=", 1)[0] + f"token={expired}")
    assert response.status_code == 403
    assert response.json() == {
        "errorCode": "PERMISSION_DENIED",
        "message": "this file URL has expired",
    }


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
