"""Periodic background jobs that live as long as the app (lifespan hooks of an ASGI app whose
``state.components`` holds the service's components; litestar's in ``escrow.app``).

Jobs that act on shared state run once per interval across the cluster: every process
(replica or worker) keeps its own timer, and when it fires the process first takes the
job's turn in ``job_turns``, a conditional UPDATE that one process wins per interval; the
others skip that run. A process that dies mid-run only delays the job: the next turn falls
to whichever process asks first one interval later. No lock is held while a job runs, so
nothing waits on a dead holder. Jobs that act on the process itself (reloading its policy)
run in every process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from anyio import to_thread
from sqlalchemy import CursorResult, update
from sqlalchemy.exc import IntegrityError

from escrow.instruments import JOB_RUNS
from storage.db import Database
from storage.models import JobTurn

log = logging.getLogger("escrow.schedule")

Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]


def every(
    name: str,
    interval: Callable[[Any], float],
    job: Callable[[Any], object],
    *,
    on_start: Callable[[Any], object] | None = None,
    per_process: bool = False,
) -> Lifespan:
    """A lifespan that runs ``job(components)`` in a worker thread every interval seconds,
    once per interval across the cluster (``per_process``: in every process).

    ``on_start`` runs once before the app serves. The first periodic run is one interval
    after start; an interval of 0 disables the job; a failing run is logged and counted, and
    the next one retries.
    """

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        components = app.state.components
        if on_start is not None:
            await to_thread.run_sync(on_start, components)
        seconds = interval(components)
        if seconds <= 0:
            yield
            return
        task = asyncio.create_task(_loop(name, seconds, job, components, per_process), name=name)
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan


async def _loop(
    name: str, seconds: float, job: Callable[[Any], object], components: Any, per_process: bool
) -> None:
    interval = timedelta(seconds=seconds)
    while True:
        await asyncio.sleep(seconds)
        try:  # a database that is down fails the turn like the run: logged, retried
            if not per_process and not await to_thread.run_sync(
                take_turn, components.db, name, components.clock.now(), interval
            ):
                JOB_RUNS.labels(name, "skipped").inc()
                continue
            await to_thread.run_sync(job, components)
        except Exception:
            log.exception("scheduled job %s failed", name)
            JOB_RUNS.labels(name, "failed").inc()
            succeeded = False
        else:
            JOB_RUNS.labels(name, "ran").inc()
            succeeded = True
        if not per_process:
            with contextlib.suppress(Exception):  # the next turn is taken all the same
                await to_thread.run_sync(
                    end_turn, components.db, name, components.clock.now(), succeeded
                )


# A turn is due a tenth of an interval early, so that clocks a little apart on two hosts
# do not make a process skip a turn it should have had.
_EARLY = 0.1


def take_turn(db: Database, name: str, now: datetime, interval: timedelta) -> bool:
    """Whether this process runs job ``name`` now: True for exactly one of the processes
    asking within one interval (the first to ask once the previous turn is an interval old)."""
    due = now - interval * (1 - _EARLY)
    with db.session() as session:
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(JobTurn)
            .where(JobTurn.name == name, JobTurn.started_at <= due)
            .values(started_at=now, runs=JobTurn.runs + 1)
        )
        taken = result.rowcount
        if taken or session.get(JobTurn, name) is not None:
            session.commit()
            return bool(taken)
        session.add(JobTurn(name=name, started_at=now, runs=1, failures=0))
        try:
            session.commit()  # the job's first turn ever
        except IntegrityError:
            return False  # another process took it first
        return True


def end_turn(db: Database, name: str, now: datetime, succeeded: bool) -> None:
    """Records how the turn ended (``GET /metrics`` counts runs; this keeps the last times)."""
    values: dict[str, Any] = (
        {"finished_at": now} if succeeded else {"failed_at": now, "failures": JobTurn.failures + 1}
    )
    with db.session() as session:
        session.execute(update(JobTurn).where(JobTurn.name == name).values(**values))
        session.commit()
