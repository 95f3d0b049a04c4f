"""Who may scrape ``GET /metrics``: anyone on the bind by default, or holders of a token."""

from __future__ import annotations

import hmac
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from escrow.audit.log import AuditLog, AuditRecord
from escrow.clock import Clock
from escrow.context import RequestContext
from escrow.errors import AuthenticationError
from escrow.metrics.cluster import render_cluster
from storage.db import Database

# litestar appends "; charset=utf-8" to text/* types itself: the header is then exactly
# CONTENT_TYPE_LATEST.
MEDIA_TYPE = CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")


class Scrape:
    """Renders the metrics for a scraper that ``ESCROW_METRICS_TOKEN`` admits: the default
    registry, or with ``metrics_dir`` the sum of every worker process's, then the cluster's
    series read from the database (escrow.metrics.cluster)."""

    def __init__(
        self,
        token: str | None,
        db: Database,
        audit: AuditLog,
        clock: Clock,
        metrics_dir: Path | None = None,
    ) -> None:
        self._token = token
        self._db = db
        self._clock = clock
        self._audit = audit
        self._metrics_dir = metrics_dir

    def render(self, ctx: RequestContext, authorization: str | None) -> bytes:
        """Fails closed: with a token configured, anything but ``Bearer <token>`` is audited
        and refused (401). Constant time: the comparison does not reveal a matching prefix."""
        if self._token is not None:
            scheme, _, presented = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or not presented.strip():
                self._refuse(ctx, "missing_token")
            if not hmac.compare_digest(presented.strip().encode(), self._token.encode()):
                self._refuse(ctx, "bad_token")
        cluster = render_cluster(self._db, self._clock.now())
        if self._metrics_dir is None:
            return generate_latest(REGISTRY) + cluster
        workers = CollectorRegistry()
        MultiProcessCollector(workers, path=str(self._metrics_dir))  # type: ignore[no-untyped-call]
        return generate_latest(workers) + cluster

    def _refuse(self, ctx: RequestContext, reason: str) -> None:
        with self._db.session() as session:
            self._audit.append(
                session, ctx, AuditRecord("metrics.scrape", "denied", "metrics", None, reason)
            )
            session.commit()
        raise AuthenticationError("GET /metrics needs the metrics bearer token", reason=reason)
