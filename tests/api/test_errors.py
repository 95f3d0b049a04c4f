"""Bad input always gets problem+json with a stable type and the request id; never a 500."""

from __future__ import annotations

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
        {"slug": "acme", "name": "", "tier": "core"},
        {"slug": "acme", "name": "x" * 201, "tier": "core"},
        [],
        "acme",
    ],
)
def test_wrong_types_missing_unknown_and_oversized_fields(operator: Caller, body) -> None:
    _is_problem(operator.post("/v1/orgs", json=body), 400)


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
    _is_problem(operator.get("/v1/orgs", params={"limit": 0}), 400)
    _is_problem(operator.get("/v1/orgs", params={"limit": "lots"}), 400)


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
    _is_problem(client.post("/v1/auth/token", data={"grant_type": "password"}), 422)


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
