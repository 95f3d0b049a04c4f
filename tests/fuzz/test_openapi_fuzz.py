"""Schemathesis against the app's own OpenAPI schema: every operation, as several roles.

The app runs in process behind the ASGI transport (the whole HTTP stack: middleware,
authentication, decoding, problem mapping) on the real PostgreSQL database. For every
operation, in positive (schema-valid) and negative (schema-violating) mode, and half the
time with the ids of real resources in the path, each response must:

- never be a 5xx;
- if an error, be ``application/problem+json`` with ``type``, ``title`` and ``status``;
- conform to the schema: status code, content type, headers and body;
- refuse schema-violating input, and accept schema-valid input unless the refusal is a
  ``422`` for one of the rules in SEMANTIC_RULES / SEMANTIC_TYPES (which the schema cannot
  say: a cursor this API issued, sizes within the current tree, no NUL in text, ...).

``ESCROW_FUZZ_EXAMPLES`` bounds the examples per operation and mode (small by default, so
``make test`` stays quick); ``make fuzz`` runs the same tests with a large count. Unknown
query parameters and headers are ignored by design (HTTP convention), so the fuzzer does
not send them expecting a refusal; unknown body fields are refused (``additionalProperties:
false``), which it does check.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from litestar import Litestar
from schemathesis import CheckContext, GenerationMode, Response
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from escrow.app import create_app
from escrow.components import Components
from escrow.errors import PROBLEM_BASE
from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.datasets import create_dataset, deposit

FUZZ_EXAMPLES = int(os.environ.get("ESCROW_FUZZ_EXAMPLES", "2"))
PROBLEM = "application/problem+json"
OAUTH_PATHS = {"/v1/auth/token", "/v1/auth/revoke"}
OAUTH_ERRORS = {
    "invalid_request",
    "invalid_client",
    "unsupported_grant_type",
    "unauthorized_client",
    "slow_down",
}
SHARING = "/delta-sharing/"
ROLES = ("operator", "org_admin", "steward", "partner_member")

# A schema-valid request may still be refused with 422 when it breaks one of these rules,
# named by the problem's "field". Anything else refused as invalid is a schema that lies.
SEMANTIC_RULES = {
    "cursor": "a cursor must be one this API issued",
    "from": "proof sizes must lie within the current tree",
    "to": "proof sizes must lie within the current tree",
    "index": "proof indexes must lie within the tree",
    "size": "proof sizes must lie within the current tree",
    "slug": "'platform' is reserved",
    "orgs": "a partnership joins two different organizations",
    "beneficiary": "an agreement releases to another organization",
    "expires_at": "expiry lies in the future",
    "not_before": "an embargo ends before the expiry",
    "attestation": "an attestation names both its event and its organization",
    "event": "an attestation must be of the event the agreement waits for",
    "view": "a view needs a tabular dataset",
    "view.fields": "a view names fields of the dataset's schema",
    "view.where": "a view's predicates name fields of the dataset's schema",
    "roles": "the operator role exists only in the platform organization",
    "email": "service accounts have no email",
    "schema": "a dataset schema names each field once",
    "files": "a policy bundle must load and hold main.polar",
    "tests": "a policy bundle must pass its own and the repository's test cases",
    "resource.type": "explain answers for the resource types it knows",
    "url": "webhook endpoints are https (unless allowed) on public addresses",
    "period": "an ecosystem report spans at most 366 periods",
}
# Rules that hold for all text, whatever the field: answered with a problem type of their own.
SEMANTIC_TYPES = {
    PROBLEM_BASE + "nul-character": "no text may hold U+0000 (PostgreSQL text cannot)",
    PROBLEM_BASE + "malformed-table": "a tabular deposit is a well-formed table of its type",
    PROBLEM_BASE + "schema-mismatch": "a tabular deposit fits the dataset's schema",
}


@pytest.fixture
def settings_env(settings_env: dict[str, str]) -> dict[str, str]:
    """No background jobs: schemathesis keeps the app's lifespan running after the test."""
    return {
        **settings_env,
        "ESCROW_CHECKPOINT_INTERVAL": "0",
        "ESCROW_POLICY_RELOAD_SECONDS": "0",
        "ESCROW_AGREEMENT_SWEEP_INTERVAL": "0",
        "ESCROW_WEBHOOK_INTERVAL": "0",
    }


@dataclass
class World:
    """Two partner orgs with people, a tabular dataset with a version and an agreement."""

    callers: dict[str, Caller]
    path_ids: dict[str, str]


@pytest.fixture
def world(eco: Ecosystem) -> World:
    eco.org("acme", "strategic")
    eco.org("globex", "core")
    eco.partnership("acme", "globex")
    admin = eco.principal("acme", "admin")
    steward = eco.principal("acme", "steward")
    member = eco.principal("globex", "member")
    target = eco.principal("acme", "member", name="fuzz-target")  # real ids to fuzz with
    dataset = create_dataset(
        steward,
        schema={"fields": [{"name": "region", "type": "string"}, {"name": "n", "type": "integer"}]},
    )
    assert deposit(steward, dataset["id"], b"region,n\nEU,1\nUS,2\n").status_code == 201
    agreement = steward.post(
        f"/v1/datasets/{dataset['id']}/agreements",
        json={
            "beneficiary": "globex",
            "purpose": "fuzzing",
            "approvals": {"required": 1, "from": ["owner:steward"]},
            "view": {"fields": ["region"]},
        },
    )
    assert agreement.status_code == 201, agreement.text
    partnerships = eco.operator.get("/v1/partnerships").json()["items"]
    bundle = eco.operator.get("/v1/policies/active").json()
    return World(
        callers={
            "operator": eco.operator,
            "org_admin": admin,
            "steward": steward,
            "partner_member": member,
        },
        path_ids={
            "org": "acme",
            "dataset_id": dataset["id"],
            "number": "1",
            "agreement_id": agreement.json()["id"],
            "partnership_id": partnerships[0]["id"],
            "bundle_id": bundle["id"],
            "principal_id": target.id,
            "key_id": target.key_id,
        },
    )


def problem_details(ctx: CheckContext, response: Response, case: Any) -> bool | None:
    """Every error is RFC 9457 problem+json with a stable type, a title and its status;
    the OAuth endpoints answer OAuth clients in RFC 6749's own error body instead."""
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if case.path.startswith(SHARING):  # the Delta Sharing protocol's own error body
        assert content_type.startswith("application/json"), content_type
        if case.method.upper() != "HEAD":  # a HEAD answer has no body
            assert set(response.json()) == {"errorCode", "message"}, response.text
        return True
    if case.path in OAUTH_PATHS and content_type.startswith("application/json"):
        body = response.json()
        assert body.get("error") in OAUTH_ERRORS and body.get("error_description"), body
        return True
    assert content_type.startswith(PROBLEM), f"{response.status_code} is {content_type!r}"
    body = response.json()
    assert isinstance(body, dict), body
    assert str(body.get("type", "")).startswith(PROBLEM_BASE), body
    assert isinstance(body.get("title"), str) and body["title"], body
    assert body.get("status") == response.status_code, body
    return True


def schema_valid_requests_are_accepted(
    ctx: CheckContext, response: Response, case: Any
) -> bool | None:
    """Valid by the schema means not refused as invalid, bar SEMANTIC_RULES' 422s."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code < 400:
        return None
    if response.status_code in (401, 403, 404, 409, 410, 412, 429):
        return None  # who may, what exists and the state it is in: not the request's shape
    if case.method.upper() == "HEAD":
        return None  # no body says why; the GET twin of each HEAD route is checked with one
    body = response.json()
    assert isinstance(body, dict), body
    if case.path.startswith(SHARING) and response.status_code == 400:
        # The protocol has no 422: names it forbids, page tokens it did not issue and
        # versions that do not exist are 400 INVALID_PARAMETER_VALUE by its error codes.
        assert body.get("errorCode") == "INVALID_PARAMETER_VALUE", body
        return True
    semantic = body.get("field") in SEMANTIC_RULES or body.get("type") in SEMANTIC_TYPES
    assert response.status_code == 422 and semantic, (
        f"schema-valid request refused: {response.status_code} {body}"
    )
    return True


def _strategy(operation: Any, mode: GenerationMode, path_ids: dict[str, str]) -> Any:
    """Random ids (mostly 404s) or the world's real ones (reaching the deeper code)."""
    random_ids = operation.as_strategy(mode)
    names = {p.name for p in operation.path_parameters}
    if not names:
        return random_ids
    real = {name: path_ids[name] for name in names if name in path_ids}
    return st.one_of(random_ids, operation.as_strategy(mode, path_parameters=real))


def _fuzz(app: Litestar, caller: Caller, path_ids: dict[str, str]) -> list[str]:
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    schema.config.generation.update(allow_extra_parameters=False)
    rejection = schema.config.checks.negative_data_rejection
    # A body over its size limit is refused before it is read, with 413.
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    headers = {"Authorization": f"Bearer {caller.token}"}
    settings = hypothesis.settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.generate, hypothesis.Phase.shrink],
    )
    failures: list[str] = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"the schema describes an operation badly: {result.err()}")
            continue
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @hypothesis.given(case=_strategy(operation, mode, path_ids))
            @settings
            def exchange(case: Any) -> None:
                case.call_and_validate(
                    headers=headers,
                    excluded_checks=[positive_data_acceptance],
                    additional_checks=[problem_details, schema_valid_requests_are_accepted],
                )

            try:
                exchange()
            except Unsatisfiable:
                continue  # no input to get wrong (e.g. negative mode without parameters)
            except (AssertionError, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    return failures


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_by_its_schema_and_never_5xx(
    role: str, components: Components, world: World
) -> None:
    app = create_app(components)
    failures = _fuzz(app, world.callers[role], world.path_ids)
    assert not failures, f"{len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)
