"""Bad input always gets problem+json with a stable type and the request id; never a 500."""

from __future__ import annotations

import base64

import pytest

from tests.fixtures.api import Caller, Ecosystem

PROBLEM = "application/problem+json"


def _is_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://partner-escrow.dev/problems/")
    assert body["title"] and "detail" in body
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_malformed_json(operator: Caller) -> None:
    response = operator.post(
        "/v1/orgs", content=b'{"slug": "acme",', headers={"Content-Type": "application/json"}
    )
    _is_problem(response, 400)


@pytest.mark.parametrize(
    "body",
    [
        {"slug": 42, "name": "Acme", "tier": "core"},
        {"slug": "acme", "name": "Acme"},
        {"slug": "acme", "name": "Acme", "tier": "core", "owner": "me"},
        [],
        "acme",
    ],
)
def test_wrong_types_missing_and_unknown_fields(operator: Caller, body) -> None:
    _is_problem(operator.post("/v1/orgs", json=body), 400)


@pytest.mark.parametrize("name", ["", "x" * 201])
def test_well_formed_values_outside_their_bounds_are_422(operator: Caller, name: str) -> None:
    body = _is_problem(
        operator.post("/v1/orgs", json={"slug": "acme", "name": name, "tier": "core"}), 422
    )
    assert body["type"].endswith("/validation-error") and body["errors"][0]["key"] == "name"


@pytest.mark.parametrize(
    ("orgs", "status", "message"),
    [
        (1, 400, "Expected `array`, got `int`"),
        (["acme"], 422, "Expected `array` of length >= 2"),
    ],
)
def test_a_body_field_named_like_a_dependency_is_the_client_s_error(
    operator: Caller, orgs: object, status: int, message: str
) -> None:
    """``orgs`` is both a field of the partnership body and a dependency's name: litestar
    reads a bad value there as a failing dependency (500); it is the client's error."""
    body = _is_problem(
        operator.post("/v1/partnerships", json={"orgs": orgs, "kind": "resale"}), status
    )
    assert body["errors"] == [{"message": message, "key": "orgs", "source": "body"}]


def test_oversized_body_is_413(operator: Caller) -> None:
    response = operator.post(
        "/v1/orgs",
        content=b"{" + b" " * (2 << 20) + b"}",
        headers={"Content-Type": "application/json"},
    )
    _is_problem(response, 413)


def test_unknown_route_and_method(operator: Caller) -> None:
    _is_problem(operator.get("/v1/nothing-here"), 404)
    _is_problem(operator.request("PUT", "/v1/orgs"), 405)


def test_bad_query_parameters(operator: Caller) -> None:
    _is_problem(operator.get("/v1/orgs", params={"limit": 0}), 422)
    _is_problem(operator.get("/v1/orgs", params={"limit": "lots"}), 400)


@pytest.mark.parametrize("values", [["1", "2"], ["lots", "2"], ["2", "lots"]])
def test_a_parameter_given_twice_is_refused_not_read_as_its_last_value(
    operator: Caller, values: list[str]
) -> None:
    body = _is_problem(operator.get("/v1/orgs", params={"limit": values}), 400)
    assert body["type"].endswith("/malformed-request")
    assert body["errors"] == [
        {"key": "limit", "source": "query", "message": "given more than once"}
    ]


def test_unknown_parameters_are_ignored_even_when_repeated(operator: Caller) -> None:
    response = operator.get("/v1/orgs", params={"colour": ["red", "blue"], "limit": 5})
    assert response.status_code == 200, response.text


def test_token_endpoint_bad_input(operator: Caller) -> None:
    client = operator.client
    _is_problem(
        client.post(
            "/v1/auth/token", content=b"not json", headers={"Content-Type": "application/json"}
        ),
        400,
    )
    _is_problem(client.post("/v1/auth/token", json={"key_id": "x"}), 422)
    _is_problem(
        client.post("/v1/auth/token", content=b"x", headers={"Content-Type": "text/plain"}), 400
    )
    # An OAuth form gets RFC 6749's error body instead (issue 19; tests/api/auth/test_oauth.py).
    password = client.post("/v1/auth/token", data={"grant_type": "password"})
    assert password.status_code == 400
    assert password.json()["error"] == "unsupported_grant_type"


def test_request_id_is_echoed_when_well_formed(operator: Caller) -> None:
    response = operator.get("/v1/orgs/nope", headers={"X-Request-ID": "trace-123"})
    assert _is_problem(response, 404)["request_id"] == "trace-123"
    ok = operator.get("/v1/orgs", headers={"X-Request-ID": "trace-456"})
    assert ok.headers["x-request-id"] == "trace-456"
    weird = operator.get("/v1/orgs", headers={"X-Request-ID": "bad id with spaces"})
    assert weird.headers["x-request-id"] != "bad id with spaces"


def test_unauthenticated_problem_has_www_authenticate(eco: Ecosystem, operator: Caller) -> None:
    body = _is_problem(operator.client.get("/v1/orgs"), 401)
    assert body["type"].endswith("/unauthenticated")


def test_health_and_schema_are_public(operator: Caller) -> None:
    client = operator.client
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ready"}
    schema = client.get("/schema/openapi.json").json()
    assert "/v1/orgs" in schema["paths"] and "/v1/auth/token" in schema["paths"]


def test_text_with_a_nul_character_is_422_never_500(operator: Caller) -> None:
    """Found by the fuzzer: PostgreSQL text cannot hold U+0000, so it failed deep inside."""
    nul = "https://partner-escrow.dev/problems/nul-character"
    org = {"slug": "acme", "name": "a\x00b", "tier": "core"}
    assert _is_problem(operator.post("/v1/orgs", json=org), 422)["type"] == nul
    assert all(o["slug"] != "acme" for o in operator.get("/v1/orgs").json()["items"])
    assert _is_problem(operator.get("/v1/datasets/a%00b"), 422)["type"] == nul
    assert _is_problem(operator.get("/v1/audit/events?actor=a%00b"), 422)["type"] == nul
    # An escaped backslash followed by "u0000" is text, not a NUL.
    ok = operator.post("/v1/orgs", json={**org, "name": "a\\u0000b"})
    assert ok.status_code == 201 and ok.json()["name"] == "a\\u0000b"


@pytest.mark.parametrize(
    ("raw", "urls"),
    [
        (b"\x00", ["/v1/orgs", "/v1/audit/events", "/v1/datasets", "/v1/policies"]),
        (b"abc\x00", ["/v1/orgs", "/v1/agreements", "/v1/partnerships"]),
        ("²".encode(), ["/v1/audit/events"]),
        (b"99999999999999999999", ["/v1/audit/events"]),
    ],
    ids=["nul", "trailing_nul", "superscript_digit", "beyond_bigint"],
)
def test_cursors_that_decode_to_nonsense_are_422_never_500(
    operator: Caller, raw: bytes, urls: list[str]
) -> None:
    """Found by the fuzzer: a cursor decoding to NUL or to a non-ASCII digit was a 500."""
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    for url in urls:
        body = _is_problem(operator.get(url, params={"cursor": cursor}), 422)
        assert body["field"] == "cursor", (url, body)
