"""Every input limit (README: Input limits) holds through the HTTP stack, answers problem+json
with its documented status and type, and leaves the stored data as it was."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from escrow.components import Components
from escrow.config import load_settings
from escrow.errors import PROBLEM_BASE
from escrow.input_limits import MAX_PATH_SEGMENT, json_depth
from escrow.paging import MAX_PAGE_SIZE
from escrow.params import MAX_CURSOR_LENGTH, MAX_QUERY_TEXT
from escrow.policy.validation import MAX_BUNDLE_BYTES, MAX_FILE_BYTES, MAX_POLAR_FILES
from storage.models import AuditEvent
from tests.fixtures.api import Caller
from tests.fixtures.audit import log_session
from tests.fixtures.datasets import Partners

DEFAULTS = load_settings({})
MAX_BODY = DEFAULTS.max_body_bytes
LIMITS = DEFAULTS.input_limits


def _problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == PROBLEM_BASE + slug and body["status"] == status, body
    assert body["title"] and body["request_id"] == response.headers["x-request-id"]
    return dict(body)


def _datasets(caller: Caller) -> list[str]:
    return [d["name"] for d in caller.get("/v1/datasets").json()["items"]]


def _dataset(name: str = "q3", **fields: Any) -> dict[str, Any]:
    return {"name": name, "media_type": "text/csv", **fields}


# --- request bodies -------------------------------------------------------------------


def test_a_body_over_the_body_limit_is_413_and_nothing_is_stored(partners: Partners) -> None:
    padded = b'{"name": "q3", "description": "' + b"x" * MAX_BODY + b'"}'
    response = partners.steward.post(
        "/v1/datasets", content=padded, headers={"Content-Type": "application/json"}
    )
    _problem(response, 413, "payload-too-large")
    assert _datasets(partners.steward) == []


def test_a_token_request_over_its_own_body_limit_is_413(partners: Partners) -> None:
    response = partners.steward.client.post(
        "/v1/auth/token", json={"key_id": partners.steward.key_id, "secret": "x" * 5000}
    )
    _problem(response, 413, "payload-too-large")


# --- header fields (RFC 6585: 431) ------------------------------------------------------


def test_too_many_header_fields_is_431_before_anything_else(partners: Partners) -> None:
    extra = {f"x-extra-{i}": "1" for i in range(LIMITS.max_header_count)}
    response = partners.steward.post("/v1/datasets", json=_dataset(), headers=extra)
    body = _problem(response, 431, "headers-too-large")
    assert body["max_header_count"] == LIMITS.max_header_count
    assert _datasets(partners.steward) == []
    # Well within the limit the same request goes through.
    few = {f"x-extra-{i}": "1" for i in range(LIMITS.max_header_count // 2)}
    assert partners.steward.post("/v1/datasets", json=_dataset(), headers=few).status_code == 201


def test_header_fields_over_the_byte_limit_are_431(partners: Partners) -> None:
    response = partners.steward.post(
        "/v1/datasets",
        json=_dataset(),
        headers={"x-padding": "p" * LIMITS.max_header_bytes},
    )
    body = _problem(response, 431, "headers-too-large")
    assert body["max_header_bytes"] == LIMITS.max_header_bytes
    assert _datasets(partners.steward) == []


def test_header_limits_hold_on_public_routes_too(partners: Partners) -> None:
    huge = {"x-padding": "p" * LIMITS.max_header_bytes}
    _problem(partners.steward.client.get("/health/live", headers=huge), 431, "headers-too-large")
    token = partners.steward.client.post(
        "/v1/auth/token",
        json={"key_id": partners.steward.key_id, "secret": partners.steward.secret},
        headers=huge,
    )
    _problem(token, 431, "headers-too-large")


# --- JSON nesting depth (checked before decoding: 422) --------------------------------------


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [LIMITS.max_json_depth + 1, 100_000])
def test_json_nested_deeper_than_the_limit_is_422(partners: Partners, depth: int) -> None:
    """100 000 deep once overflowed the decoder's recursion (a 500); now it is never decoded."""
    body = b'{"name": "q3", "schema": ' + _nested(depth - 1) + b"}"
    response = partners.steward.post(
        "/v1/datasets", content=body, headers={"Content-Type": "application/json"}
    )
    problem = _problem(response, 422, "json-too-deep")
    assert problem["max_depth"] == LIMITS.max_json_depth
    assert _datasets(partners.steward) == []


def test_the_token_endpoint_checks_depth_too(partners: Partners) -> None:
    response = partners.steward.client.post(
        "/v1/auth/token",
        content=b'{"key_id": ' + _nested(1000) + b"}",
        headers={"Content-Type": "application/json"},
    )
    _problem(response, 422, "json-too-deep")


def test_brackets_inside_strings_do_not_count_as_nesting(partners: Partners) -> None:
    name = "[{" * 50 + '"\\'
    response = partners.steward.post("/v1/datasets", json=_dataset(name))
    assert response.status_code == 201, response.text
    assert _datasets(partners.steward) == [name]


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [{"b": []}]}', 4),
        (b'["[[[", "\\"[[", {"x": "]]]]"}]', 2),
        (b'"unterminated [[[', 0),
        (b"[[[", 3),
    ],
)
def test_json_depth_counts_only_structure(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


# --- string lengths, list sizes, page sizes ---------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "n" * 201},
        {"description": "d" * 4001},
        {"media_type": "text/" + "x" * 251},
        {"labels": ["l" * 64]},
        {"labels": [f"label-{i}" for i in range(33)]},
        {"schema": {"fields": [{"name": "f" * 201, "type": "string"}]}},
        {"schema": {"fields": [{"name": "f", "type": "t" * 33}]}},
    ],
    ids=["name", "description", "media_type", "label", "label_count", "field_name", "type"],
)
def test_dataset_fields_over_their_limits_are_refused(
    partners: Partners, fields: dict[str, Any]
) -> None:
    response = partners.steward.post("/v1/datasets", json=_dataset(**fields))
    _problem(response, 422, "validation-error")
    assert _datasets(partners.steward) == []


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/v1/orgs", {"slug": "s" * 64, "name": "n", "tier": "core"}),
        ("/v1/orgs", {"slug": "acme2", "name": "n" * 201, "tier": "core"}),
        ("/v1/partnerships", {"orgs": ["acme", "globex"], "kind": "k" * 41}),
        ("/v1/orgs/acme/members", {"name": "n", "roles": ["member"], "email": "a@" + "b" * 320}),
        ("/v1/authz/explain", {"action": "read", "resource": {"type": "dataset", "id": "i" * 129}}),
        ("/v1/auth/revoke", {"token": "t" * 4097}),
    ],
    ids=["slug", "org_name", "kind", "email", "resource_id", "token"],
)
def test_identifiers_and_text_over_their_limits_are_refused(
    partners: Partners, url: str, body: dict[str, Any], components: Components
) -> None:
    before = _audit_size(components)
    _problem(partners.operator.post(url, json=body), 422, "validation-error")
    assert _audit_size(components) == before  # refused before any use case ran: no change


def test_agreement_text_over_its_limit_is_refused(partners: Partners) -> None:
    created = partners.steward.post("/v1/datasets", json=_dataset()).json()
    url = f"/v1/datasets/{created['id']}/agreements"
    terms = {
        "beneficiary": "globex",
        "purpose": "p" * 4001,
        "approvals": {"required": 1, "from": ["owner:steward"]},
    }
    _problem(partners.steward.post(url, json=terms), 422, "validation-error")
    long_approver = {**terms, "purpose": "p", "approvals": {"required": 1, "from": ["o" * 81]}}
    _problem(partners.steward.post(url, json=long_approver), 422, "validation-error")
    assert partners.steward.get("/v1/agreements").json()["items"] == []


def test_token_credentials_over_their_limits_are_refused(
    partners: Partners, components: Components
) -> None:
    """Found by the fuzzer: a key id over 128 characters failed its denial's audit (a 500)."""
    client = partners.steward.client
    before = _audit_size(components)
    long_id = client.post("/v1/auth/token", json={"key_id": "k" * 200, "secret": "s"})
    _problem(long_id, 422, "validation-error")
    assert _audit_size(components) == before
    form = client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": "k", "client_secret": "s" * 257},
    )
    # An OAuth form gets RFC 6749's error body (issue 19), still refused before any audit.
    assert form.status_code == 400 and form.json()["error"] == "invalid_request"
    assert _audit_size(components) == before


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/v1/datasets", {"limit": MAX_PAGE_SIZE + 1}),
        ("/v1/datasets", {"limit": 0}),
        ("/v1/orgs", {"cursor": "c" * (MAX_CURSOR_LENGTH + 1)}),
        ("/v1/audit/events", {"actor": "a" * (MAX_QUERY_TEXT + 1)}),
        ("/v1/audit/events", {"limit": MAX_PAGE_SIZE + 1}),
    ],
    ids=["page_size", "page_size_zero", "cursor", "filter", "audit_page_size"],
)
def test_query_parameters_over_their_limits_are_refused(
    partners: Partners, url: str, params: dict[str, Any]
) -> None:
    _problem(partners.operator.get(url, params=params), 422, "validation-error")


def test_the_largest_page_is_served(partners: Partners) -> None:
    response = partners.operator.get("/v1/orgs", params={"limit": MAX_PAGE_SIZE})
    assert response.status_code == 200


def test_a_path_identifier_longer_than_any_is_404(
    partners: Partners, components: Components
) -> None:
    """Found by the fuzzer: a denied read of a 200-character id failed its audit (a 500)."""
    long_id = "b" * (MAX_PATH_SEGMENT + 1)
    _problem(partners.admin.get(f"/v1/policies/{long_id}"), 404, "not-found")
    _problem(partners.member.get(f"/v1/datasets/{long_id}"), 404, "not-found")
    # At the limit the request is decided as usual: a denial, audited with the id asked for.
    at_limit = "b" * MAX_PATH_SEGMENT
    _problem(partners.admin.get(f"/v1/policies/{at_limit}"), 403, "forbidden")
    with log_session(components) as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert last is not None and (last.outcome, last.resource_id) == ("denied", at_limit)


# --- policy bundles ----------------------------------------------------------------------


def _bundles(operator: Caller) -> int:
    return len(operator.get("/v1/policies").json()["items"])


def test_a_policy_bundle_over_its_size_is_413_and_not_stored(partners: Partners) -> None:
    operator = partners.operator
    before = _bundles(operator)
    count = MAX_BUNDLE_BYTES // MAX_FILE_BYTES + 1
    files = {f"f{i}.polar": "#" * (MAX_FILE_BYTES - 1) for i in range(count)}
    response = operator.post("/v1/policies", json={"files": {"main.polar": "", **files}})
    _problem(response, 413, "payload-too-large")
    assert _bundles(operator) == before


def test_a_policy_bundle_with_too_many_files_is_422_and_not_stored(partners: Partners) -> None:
    operator = partners.operator
    before = _bundles(operator)
    files = {f"f{i}.polar": "" for i in range(MAX_POLAR_FILES + 1)}
    response = operator.post("/v1/policies", json={"files": {"main.polar": "", **files}})
    _problem(response, 422, "validation-error")
    assert _bundles(operator) == before


def _audit_size(components: Components) -> int:
    with log_session(components) as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
