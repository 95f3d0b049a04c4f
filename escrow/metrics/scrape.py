"""Who may scrape ``GET /metrics``: anyone on the bind by default, or holders of a token."""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from escrow.audit.log import AuditLog, AuditRecord
from escrow.context import RequestContext
from escrow.errors import AuthenticationError
from storage.db import Database

# litestar appends "; charset=utf-8" to text/* types itself: the header is then exactly
# CONTENT_TYPE_LATEST.
MEDIA_TYPE = CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")


class Scrape:
    """Renders the default registry for a scraper that ``ESCROW_METRICS_TOKEN`` admits."""

    def __init__(self, token: str | None, db: Database, audit: AuditLog) -> None:
        self._token = token
        self._db = db
        self._audit = audit

    def render(self, ctx: RequestContext, authorization: str | None) -> bytes:
        """Fails closed: with a token configured, anything but ``Bearer <token>`` is audited
        and refused (401). Constant time: the comparison does not reveal a matching prefix."""
        if self._token is not None:
            scheme, _, presented = (authorization or "").partition(" ")
            if scheme.lower() != "bearer" or not presented.strip():
                self._refuse(ctx, "missing_token")
            if not hmac.compare_digest(presented.strip().encode(), self._token.encode()):
                self._refuse(ctx, "bad_token")
        return generate_latest(REGISTRY)

    def _refuse(self, ctx: RequestContext, reason: str) -> None:
        with self._db.session() as session:
            self._audit.append(
                session, ctx, AuditRecord("metrics.scrape", "denied", "metrics", None, reason)
            )
            session.commit()
        raise AuthenticationError("GET /metrics needs the metrics bearer token", reason=reason)
