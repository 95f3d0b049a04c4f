"""The Prometheus instruments the service updates, in the default registry.

Module-level, as prometheus_client intends: every app built in one process (tests build
several) shares them, and ``GET /metrics`` renders them. Label values come from closed sets
only (route templates, policy actions, outcomes), never from ids or paths, so the number of
series stays bounded.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# Deposits and downloads stream for minutes: the default buckets stop at 10 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

REQUEST_SECONDS = Histogram(
    "escrow_http_request_duration_seconds",
    "HTTP request latency by route template, method and status class.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
AUTHZ_DECISIONS = Counter(
    "escrow_authz_decisions_total",
    "Authorization decisions by action and outcome (allowed, denied).",
    ["action", "outcome"],
)
DEPOSIT_BYTES = Counter("escrow_deposit_bytes_total", "Plaintext bytes accepted in deposits.")
DOWNLOAD_BYTES = Counter("escrow_download_bytes_total", "Bytes sent to clients in downloads.")
AUDIT_APPENDS = Counter(
    "escrow_audit_appends_total", "Audit events appended, by outcome.", ["outcome"]
)
WEBHOOK_DELIVERIES = Counter(
    "escrow_webhook_deliveries_total",
    "Webhook delivery attempts by result (delivered, failed, dead).",
    ["result"],
)
WEBHOOK_ENDPOINTS_DISABLED = Counter(
    "escrow_webhook_endpoints_disabled_total",
    "Webhook endpoints disabled automatically once their failure budget was spent.",
)
JOB_RUNS = Counter(
    "escrow_job_runs_total",
    "Periodic job runs in this process by job and outcome: ran, failed, or skipped (another"
    " process of the cluster had the turn).",
    ["job", "outcome"],
)
