"""What every use-case service is built from, wired per request in app.py."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from escrow.audit.log import AuditLog, AuditRecord
from escrow.clock import Clock
from escrow.context import RequestContext
from escrow.errors import ValidationError
from escrow.ids import IdFactory
from escrow.policy.guard import Guard

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_INTEGER = 2**31 - 1  # PostgreSQL INTEGER: a number beyond it names nothing stored
MAX_BIGINT = 2**63 - 1


@dataclass(frozen=True)
class Page:
    """A keyset page: items plus the cursor of the next page (None on the last one)."""

    items: list[Any]
    next_cursor: str | None


@dataclass
class ServiceDeps:
    """A request's session and context, and the long-lived components (see wiring.py)."""

    session: Session
    ctx: RequestContext
    # escrow.components.Components; typed Any because that module imports this one and litestar
    # resolves dependency annotations at run time.
    components: Any

    @property
    def guard(self) -> Guard:
        guard: Guard = self.components.guard
        return guard

    @property
    def audit(self) -> AuditLog:
        audit: AuditLog = self.components.audit
        return audit

    @property
    def clock(self) -> Clock:
        clock: Clock = self.components.clock
        return clock

    @property
    def new_id(self) -> IdFactory:
        new_id: IdFactory = self.components.new_id
        return new_id


class Service:
    def __init__(self, deps: ServiceDeps) -> None:
        self.deps = deps
        self.session = deps.session
        self.ctx = deps.ctx
        self.guard = deps.guard

    def commit_with_event(self, record: AuditRecord) -> int:
        """Append the success event last and commit: the change and its event land together."""
        seq = self.deps.audit.append(self.session, self.ctx, record)
        self.session.commit()
        return seq


def encode_cursor(last_key: str) -> str:
    return base64.urlsafe_b64encode(last_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("cursor is not one this API issued", field="cursor") from None
    if "\x00" in key:  # never in a key this API issued, and PostgreSQL text cannot hold it
        raise ValidationError("cursor is not one this API issued", field="cursor")
    return key


def decode_number_cursor(cursor: str | None, maximum: int = MAX_BIGINT) -> int | None:
    """A cursor that holds a number: ASCII digits, at most ``maximum`` (its column's range)."""
    raw = decode_cursor(cursor)
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= maximum):
        raise ValidationError("cursor is not one this API issued", field="cursor")
    return int(raw)


def page_size(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE_SIZE}", field="limit")
    return limit


def paginate(rows: list[Any], limit: int, key: str = "id") -> Page:
    """Turn limit+1 fetched rows into a page."""
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(rows, encode_cursor(str(getattr(rows[-1], key))))
    return Page(rows, None)
