"""Periodic jobs once per interval across processes: the turn a process takes before a run."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from threading import Barrier

from escrow.schedule import end_turn, take_turn
from storage.db import Database
from storage.models import JobTurn

START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=30)


def test_one_turn_per_interval_whoever_asks(db: Database) -> None:
    assert take_turn(db, "sweep", START, INTERVAL)  # the first turn ever
    assert not take_turn(db, "sweep", START, INTERVAL)  # another process, same instant
    assert not take_turn(db, "sweep", START + INTERVAL / 2, INTERVAL)
    assert take_turn(db, "sweep", START + INTERVAL, INTERVAL)
    assert not take_turn(db, "sweep", START + INTERVAL * 1.5, INTERVAL)
    # A tenth of an interval early still counts: clocks on two hosts are a little apart.
    assert take_turn(db, "sweep", START + INTERVAL * 1.9, INTERVAL)
    assert take_turn(db, "other-job", START, INTERVAL)  # jobs take turns independently
    with db.session() as session:
        assert session.get_one(JobTurn, "sweep").runs == 3


def test_of_processes_asking_at_once_exactly_one_runs(db: Database) -> None:
    for now in (START, START + INTERVAL):  # the first-ever insert, then the update
        barrier = Barrier(8)

        def ask(now: datetime = now, barrier: Barrier = barrier) -> bool:
            barrier.wait()
            return take_turn(db, "sweep", now, INTERVAL)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: ask(), range(8)))
        assert answers.count(True) == 1, answers


def test_a_dead_runner_only_delays_the_job_and_failures_are_kept(db: Database) -> None:
    assert take_turn(db, "sweep", START, INTERVAL)
    # The process that took the turn died mid-run: it never ends the turn. The next
    # interval's first asker runs the job.
    assert take_turn(db, "sweep", START + INTERVAL, INTERVAL)
    end_turn(db, "sweep", START + INTERVAL + timedelta(seconds=2), succeeded=False)
    assert take_turn(db, "sweep", START + INTERVAL * 2, INTERVAL)
    end_turn(db, "sweep", START + INTERVAL * 2 + timedelta(seconds=1), succeeded=True)
    with db.session() as session:
        turn = session.get_one(JobTurn, "sweep")
        assert (turn.runs, turn.failures) == (3, 1)
        assert turn.failed_at == START + INTERVAL + timedelta(seconds=2)
        assert turn.finished_at == START + INTERVAL * 2 + timedelta(seconds=1)
