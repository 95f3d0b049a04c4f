"""Cluster-wide series read from the database at scrape time: every replica reports the same.

Per-process counters (``escrow_job_runs_total``) say what this process did; these say what
the cluster did: each periodic job's turns (``job_turns``: runs, failures, when the last
turn started, succeeded and failed), the webhook delivery queue's depth and the audit
events waiting to be integrated, so an alert on a job that stopped running or a queue that
keeps growing works whichever replica is scraped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from storage.db import Database
from storage.models import AuditQueueEntry, JobTurn, WebhookDelivery


class ClusterCollector(Collector):
    def __init__(self, db: Database, now: datetime) -> None:
        self._db = db
        self._now = now

    def collect(self) -> Iterator[Metric]:
        with self._db.session() as session:
            turns = session.scalars(select(JobTurn).order_by(JobTurn.name)).all()
            due, pending = session.execute(
                select(
                    func.count().filter(WebhookDelivery.next_attempt_at <= self._now),
                    func.count(),
                ).where(WebhookDelivery.status == "pending")
            ).one()
            unintegrated = session.scalar(select(func.count()).select_from(AuditQueueEntry))
        yield from _job_metrics(turns)
        queue = GaugeMetricFamily(
            "escrow_webhook_queue_depth",
            "Webhook deliveries waiting to be sent, across the cluster: due now or later.",
            labels=["state"],
        )
        queue.add_metric(["due"], due)
        queue.add_metric(["scheduled"], pending - due)
        audit = GaugeMetricFamily(
            "escrow_audit_queue_depth",
            "Audit events recorded but not yet integrated into the log (numbered), cluster-wide.",
        )
        audit.add_metric([], unintegrated or 0)
        yield from (queue, audit)


def _job_metrics(turns: Sequence[JobTurn]) -> list[Metric]:
    """Each periodic job's turns, failures and last times, from its turn row."""
    runs = CounterMetricFamily(
        "escrow_cluster_job_turns",
        "Turns of each periodic job taken across the cluster (one per run).",
        labels=["job"],
    )
    failures = CounterMetricFamily(
        "escrow_cluster_job_failures",
        "Failed runs of each job across the cluster.",
        labels=["job"],
    )
    times = {
        event: GaugeMetricFamily(
            f"escrow_cluster_job_last_{event}_timestamp_seconds",
            f"When a run of each job last {event} (Unix time), whichever process ran it.",
            labels=["job"],
        )
        for event in ("started", "succeeded", "failed")
    }
    for turn in turns:
        runs.add_metric([turn.name], turn.runs)
        failures.add_metric([turn.name], turn.failures)
        for event, at in (
            ("started", turn.started_at),
            ("succeeded", turn.finished_at),
            ("failed", turn.failed_at),
        ):
            if at is not None:
                times[event].add_metric([turn.name], at.timestamp())
    return [runs, failures, *times.values()]


def render_cluster(db: Database, now: datetime) -> bytes:
    registry = CollectorRegistry()
    registry.register(ClusterCollector(db, now))
    return generate_latest(registry)
