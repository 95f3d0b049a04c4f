"""The protocol's pagination and its error bodies, with the statuses the protocol names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.sharing.conftest import Recipient, Sharing


def test_tables_page_with_max_results_and_next_page_token(
    sharing: Sharing, recipient: Recipient
) -> None:
    for name in ("alpha", "beta", "gamma"):
        sharing.release(name=name)
    seen, token, pages = [], None, 0
    while True:
        params = {"maxResults": 2, **({"pageToken": token} if token else {})}
        page = recipient.get("/shares/acme/all-tables", params=params).json()
        seen += [t["name"] for t in page["items"]]
        pages += 1
        token = page.get("nextPageToken")
        if not token:
            break
    assert (seen, pages) == (["alpha", "beta", "gamma"], 2)
    empty = recipient.get("/shares/acme/schemas/default/tables", params={"maxResults": 0}).json()
    assert empty["items"] == [] and empty["nextPageToken"]
    rest = recipient.get(
        "/shares/acme/schemas/default/tables",
        params={"maxResults": 5, "pageToken": empty["nextPageToken"]},
    ).json()
    assert [t["name"] for t in rest["items"]] == ["alpha", "beta", "gamma"]
    assert "nextPageToken" not in rest
    shares = recipient.get("/shares", params={"maxResults": 1}).json()
    assert [s["name"] for s in shares["items"]] == ["acme"] and "nextPageToken" not in shares


def test_the_same_dataset_name_twice_gets_a_unique_table_name(
    sharing: Sharing, recipient: Recipient
) -> None:
    dataset, first = sharing.release()
    second = sharing.agree(dataset["id"], {"fields": ["region"]}, "globex")
    names = [t["name"] for t in recipient.get("/shares/acme/all-tables").json()["items"]]
    assert names == ["q3-sales", f"q3-sales-{second[-8:]}"]
    assert first != second


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/shares", {"params": {"maxResults": "ten"}}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "/shares", {"params": {"maxResults": "-1"}}, 400, "INVALID_PARAMETER_VALUE"),
        (
            "GET",
            "/shares",
            {"params": {"maxResults": "3000000000"}},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        ("GET", "/shares", {"params": {"pageToken": "not-ours"}}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "/shares/nope", {}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "/shares/ac%20me", {}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "/shares/acme/schemas/other/tables", {}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "/shares/acme/schemas/de.fault/tables", {}, 400, "INVALID_PARAMETER_VALUE"),
        (
            "GET",
            "/shares/acme/schemas/default/tables/q3.sales/version",
            {},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            "/shares/acme/schemas/default/tables/nope/metadata",
            {},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        (
            "GET",
            "/shares/acme/schemas/default/tables/q3-sales/metadata",
            {"params": {"version": "x"}},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "/shares/acme/schemas/default/tables/q3-sales/query",
            {"json": {"version": 9}},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "/shares/acme/schemas/default/tables/q3-sales/query",
            {"json": {"version": -1}},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "POST",
            "/shares/acme/schemas/default/tables/q3-sales/query",
            {"content": b"{nope"},
            400,
            "MALFORMED_REQUEST",
        ),
        (
            "POST",
            "/shares/acme/schemas/default/tables/q3-sales/query",
            {"json": {"startingVersion": 1}},
            400,
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "GET",
            "/shares/acme/schemas/default/tables/q3-sales/changes",
            {},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        ("DELETE", "/shares", {}, 405, "UNSUPPORTED_OPERATION"),
        ("GET", "/files/x", {"params": {"token": "a.b"}}, 403, "PERMISSION_DENIED"),
    ],
)
def test_bad_input_gets_the_protocols_error_body(
    sharing: Sharing,
    recipient: Recipient,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    sharing.release()
    headers = {**recipient.headers, "Content-Type": "application/json"}
    response = recipient.client.request(method, f"/delta-sharing{path}", headers=headers, **kwargs)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errorCode", "message"} and body["errorCode"] == code
