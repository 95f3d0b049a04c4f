"""Periodic jobs' turns across every process that schedules them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class JobTurn(Base):
    """A periodic job's turns across every process that schedules it: a process runs the
    job only if it takes the turn (``started_at`` at least an interval ago), so a cluster of
    replicas or workers runs each job once per interval (escrow/schedule.py)."""

    __tablename__ = "job_turns"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime]  # when the last turn was taken
    finished_at: Mapped[datetime | None]  # when the last successful run ended
    failed_at: Mapped[datetime | None]  # when the last run failed
    runs: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(BigInteger, default=0)
