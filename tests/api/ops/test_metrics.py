"""GET /metrics through HTTP: the Prometheus text, the counters it shows, its token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from escrow.app import build_components
from escrow.audit.log import AuditRecord
from escrow.clock import FrozenClock
from escrow.config import load_settings
from escrow.context import RequestContext
from escrow.errors import ConfigError
from escrow.schedule import end_turn, take_turn
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import AuditEvent
from tests.fixtures.audit import log_session
from tests.fixtures.datasets import Partners, create_dataset, deposit

FAMILIES = {
    "escrow_http_request_duration_seconds": "histogram",
    "escrow_authz_decisions": "counter",
    "escrow_deposit_bytes": "counter",
    "escrow_download_bytes": "counter",
    "escrow_audit_appends": "counter",
    "escrow_webhook_deliveries": "counter",
    "escrow_webhook_queue_depth": "gauge",
    "escrow_audit_queue_depth": "gauge",
}
METRICS_TOKEN = "scrape-3f1c9a7e52d84b06"


def scrape(client: TestClient[Litestar], **headers: str) -> dict[tuple[str, Any], float]:
    """Every sample as {(name, sorted labels): value}."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, Any], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_exposition_parses_and_has_every_instrument(client: TestClient[Litestar]) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    assert {name: families.get(name) for name in FAMILIES} == FAMILIES


def test_job_turns_and_the_webhook_queue_are_reported_for_the_whole_cluster(
    client: TestClient[Litestar], db: Database, clock: FrozenClock
) -> None:
    start = clock.now()
    assert take_turn(db, "agreement-sweeps", start, timedelta(seconds=30))  # some replica
    end_turn(db, "agreement-sweeps", start + timedelta(seconds=2), succeeded=False)
    assert take_turn(db, "agreement-sweeps", start + timedelta(seconds=30), timedelta(seconds=30))
    end_turn(db, "agreement-sweeps", start + timedelta(seconds=31), succeeded=True)
    client.app.state.components.trail.integrate_queued()  # what the app's start recorded
    samples = scrape(client)
    job = {"job": "agreement-sweeps"}
    assert value(samples, "escrow_cluster_job_turns_total", **job) == 2
    assert value(samples, "escrow_cluster_job_failures_total", **job) == 1
    times = {
        event: value(samples, f"escrow_cluster_job_last_{event}_timestamp_seconds", **job)
        for event in ("started", "succeeded", "failed")
    }
    assert times == {
        "started": (start + timedelta(seconds=30)).timestamp(),
        "succeeded": (start + timedelta(seconds=31)).timestamp(),
        "failed": (start + timedelta(seconds=2)).timestamp(),
    }
    assert value(samples, "escrow_webhook_queue_depth", state="due") == 0
    assert value(samples, "escrow_audit_queue_depth") == 0


def test_counters_move_with_a_deposit_a_download_and_a_denial(
    client: TestClient[Litestar], partners: Partners
) -> None:
    dataset = create_dataset(partners.steward)
    before = scrape(client)
    data = b"region,amount\n" + b"EU,10\n" * 1000
    assert deposit(partners.steward, dataset["id"], data).status_code == 201
    url = f"/v1/datasets/{dataset['id']}/versions/1/content"
    assert partners.member.get(url).content == data
    assert partners.member.get(url, headers={"Range": "bytes=0-99"}).status_code == 206
    assert deposit(partners.member, dataset["id"], b"x").status_code == 403
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("escrow_deposit_bytes_total") == len(data)
    assert moved("escrow_download_bytes_total") == len(data) + 100
    assert moved("escrow_authz_decisions_total", action="deposit", outcome="allowed") == 1
    assert moved("escrow_authz_decisions_total", action="deposit", outcome="denied") == 1
    assert moved("escrow_authz_decisions_total", action="download", outcome="allowed") == 2
    # The deposit and two downloads; the denied deposit attempt.
    assert moved("escrow_audit_appends_total", outcome="success") == 3
    assert moved("escrow_audit_appends_total", outcome="denied") == 1


def test_audit_events_waiting_for_integration_are_counted(
    client: TestClient[Litestar], db: Database
) -> None:
    components = client.app.state.components
    components.trail.integrate_queued()  # what the app's start recorded
    for n in range(2):  # on PostgreSQL an append that needs no index is only queued
        with db.session() as session:
            record = AuditRecord("test.append", "success", "test")
            assert components.audit.append(session, RequestContext(f"q{n}"), record) is None
            session.commit()
    assert value(scrape(client), "escrow_audit_queue_depth") == 2
    with db.session() as session:  # waits for the head, then numbers the queue and its own
        record = AuditRecord("test.append", "success", "test")
        components.audit.append_indexed(session, RequestContext("after"), record)
        session.commit()
    assert value(scrape(client), "escrow_audit_queue_depth") == 0


def test_a_rolled_back_append_is_not_counted(client: TestClient[Litestar], db: Database) -> None:
    components = client.app.state.components
    before = scrape(client)
    with db.session() as session:
        components.audit.append(
            session, RequestContext("test"), AuditRecord("test.append", "success", "test")
        )
        session.rollback()
    after = scrape(client)
    name = "escrow_audit_appends_total"
    assert value(after, name, outcome="success") == value(before, name, outcome="success")


def test_latency_is_labelled_by_route_template_method_and_status_class(
    client: TestClient[Litestar], partners: Partners
) -> None:
    dataset = create_dataset(partners.steward)
    before = scrape(client)
    assert partners.steward.get(f"/v1/datasets/{dataset['id']}").status_code == 200
    assert partners.steward.get("/v1/datasets/no-such-dataset").status_code == 404
    assert client.get("/v1/datasets").status_code == 401  # refused by the auth middleware
    after = scrape(client)
    count = "escrow_http_request_duration_seconds_count"

    def moved(route: str, method: str, status: str) -> float:
        labels = {"route": route, "method": method, "status": status}
        return value(after, count, **labels) - value(before, count, **labels)

    assert moved("/v1/datasets/{dataset_id}", "GET", "2xx") == 1
    assert moved("/v1/datasets/{dataset_id}", "GET", "4xx") == 1
    assert moved("/v1/datasets", "GET", "4xx") == 1
    routes = {dict(labels).get("route") for (name, labels) in after if name == count}
    assert not any(dataset["id"] in str(route) for route in routes)
    assert "/metrics" not in routes  # scrapes do not time themselves


@pytest.fixture
def token_protected(
    app: Litestar, settings_env: dict[str, str], db: Database, clock: FrozenClock, blobs: BlobStore
) -> None:
    """The app with ESCROW_METRICS_TOKEN set."""
    env = {**settings_env, "ESCROW_METRICS_TOKEN": METRICS_TOKEN}
    app.state.components = build_components(load_settings(env), clock=clock, db=db, blobs=blobs)


@pytest.mark.usefixtures("token_protected")
def test_a_configured_token_is_required_and_refusals_are_audited(
    client: TestClient[Litestar], db: Database
) -> None:
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}x"})
    assert wrong.status_code == 401
    assert scrape(client, Authorization=f"Bearer {METRICS_TOKEN}")
    with log_session(client.app.state.components) as session:
        refusals = session.execute(
            select(AuditEvent.reason, AuditEvent.outcome)
            .where(AuditEvent.action == "metrics.scrape")
            .order_by(AuditEvent.seq)
        ).all()
    assert [tuple(r) for r in refusals] == [("missing_token", "denied"), ("bad_token", "denied")]


@pytest.mark.usefixtures("token_protected")
def test_an_access_token_does_not_open_a_protected_scrape(partners: Partners) -> None:
    assert partners.operator.get("/metrics").status_code == 401


@pytest.mark.parametrize("token", ["short", "has a space in it somewhere", "x" * 257])
def test_a_malformed_metrics_token_stops_the_start(
    settings_env: dict[str, str], token: str
) -> None:
    with pytest.raises(ConfigError, match="ESCROW_METRICS_TOKEN"):
        load_settings({**settings_env, "ESCROW_METRICS_TOKEN": token})
