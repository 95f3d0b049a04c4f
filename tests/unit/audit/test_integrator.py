"""The audit integrator on PostgreSQL: appends only queue their events unless they need an
index (then they wait for the log's head), queued events are numbered by the next holder,
and a holder that dies mid-batch leaves no gap and no duplicate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import delete, func, select

from escrow.audit.head import AuditUnavailableError
from escrow.audit.integrator import BATCH, integrate_queued
from escrow.audit.log import AuditLog, AuditRecord
from escrow.audit.tree import MerkleTree
from escrow.clock import SystemClock
from escrow.context import RequestContext
from storage.db import Database
from storage.models import AuditEvent, AuditEventOrg, AuditQueueEntry, AuditSecret
from tests.fixtures.database import audit_head_held, waiting_on_a_lock
from tests.unit.audit.rfc9162 import leaf, mth

RECORD = AuditRecord("x.y", "success", "thing", "t-1", org_ids=("o-1",))


def _log(wait_seconds: float = 5) -> AuditLog:
    return AuditLog(SystemClock(), lambda value: value.hex(), index_wait_seconds=wait_seconds)


def _append(db: Database, log: AuditLog, request_id: str, *, indexed: bool = False) -> int | None:
    with db.session() as session:
        ctx = RequestContext(request_id, client_ip="192.0.2.7")
        seq = log.append(session, ctx, RECORD, indexed=indexed)
        session.commit()
        return seq


def _log_state(db: Database) -> tuple[list[int], list[str], int]:
    """(seqs, request ids in seq order, queued count), and checks every leaf and the root."""
    with db.session() as session:
        rows = session.execute(
            select(AuditEvent.seq, AuditEvent.request_id, AuditEvent.entry).order_by(AuditEvent.seq)
        ).all()
        for seq, _, entry in rows:
            assert json.loads(entry)["seq"] == seq
        tree = MerkleTree(session)
        assert tree.size() == len(rows)
        if rows:
            assert tree.root(len(rows)) == mth([leaf(entry.encode()) for _, _, entry in rows])
        queued = session.scalar(select(func.count()).select_from(AuditQueueEntry)) or 0
        return [seq for seq, _, _ in rows], [request for _, request, _ in rows], queued


def test_an_append_that_needs_no_index_is_only_queued_and_an_integration_numbers_it(
    db: Database,
) -> None:
    log = _log()
    assert [_append(db, log, f"r-{n}") for n in range(3)] == [None, None, None]
    assert _log_state(db) == ([], [], 3)  # the head was free, and still not taken
    with db.session() as session:
        assert integrate_queued(session) == 3
        session.commit()
    assert _log_state(db) == ([0, 1, 2], ["r-0", "r-1", "r-2"], 0)


def test_while_the_head_is_held_an_append_is_queued_and_numbered_by_the_next_holder(
    db: Database,
) -> None:
    log = _log()
    with audit_head_held(db):
        assert _append(db, log, "queued-1") is None  # did not wait: it queued
        assert _append(db, log, "queued-2") is None
        assert _log_state(db)[2] == 2
    # The next holder (an append that needs its index) numbers the queue first, then its own.
    assert _append(db, log, "next", indexed=True) == 2
    assert _log_state(db) == ([0, 1, 2], ["queued-1", "queued-2", "next"], 0)
    with db.session() as session:  # what the queue held moved with the events
        orgs = session.scalars(select(AuditEventOrg.seq).where(AuditEventOrg.org_id == "o-1"))
        assert sorted(orgs) == [0, 1, 2]
        secrets = session.scalars(select(AuditSecret.value).order_by(AuditSecret.seq))
        assert list(secrets) == ["192.0.2.7"] * 3


def _append_pair(db: Database, log: AuditLog, request_id: str) -> list[int | None]:
    with db.session() as session:
        ctx = RequestContext(request_id, client_ip="192.0.2.7")
        second = AuditRecord("x.z", "denied", "thing", "t-1", reason="concealed")
        numbers = log.append_all(session, [(ctx, RECORD), (ctx, second)])
        session.commit()
        return numbers


def test_events_appended_together_are_queued_together_and_numbered_in_their_order(
    db: Database,
) -> None:
    log = _log()
    assert _append(db, log, "before", indexed=True) == 0
    assert _append_pair(db, log, "pair-1") == [None, None]
    with audit_head_held(db):
        assert _append_pair(db, log, "pair-2") == [None, None]  # both queued, no wait
        assert _log_state(db)[2] == 4
    assert _append(db, log, "after", indexed=True) == 5
    assert _log_state(db) == (
        [0, 1, 2, 3, 4, 5],
        ["before", "pair-1", "pair-1", "pair-2", "pair-2", "after"],
        0,
    )
    with db.session() as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq))
        assert list(actions) == ["x.y", "x.y", "x.z", "x.y", "x.z", "x.y"]


def test_the_background_integrator_numbers_the_queue_without_a_new_append(db: Database) -> None:
    log = _log()
    with audit_head_held(db):
        for n in range(3):
            _append(db, log, f"q-{n}")
        with db.session() as session:
            assert integrate_queued(session) == 0  # the head is held: it leaves the queue be
    with db.session() as session:
        assert integrate_queued(session) == 3
        session.commit()
    assert _log_state(db) == ([0, 1, 2], ["q-0", "q-1", "q-2"], 0)


def test_an_append_that_needs_its_index_waits_for_the_head_and_gets_it(
    db: Database, postgres_url: str
) -> None:
    log = _log(wait_seconds=30)
    numbered: list[int | None] = []

    def indexed() -> None:
        numbered.append(_append(db, log, "indexed", indexed=True))

    with audit_head_held(db) as holder:
        assert _append(db, log, "queued") is None
        waiter = threading.Thread(target=indexed)
        waiter.start()
        _until_a_transaction_waits_for_a_lock(postgres_url)
        assert numbered == []
        holder.rollback()  # the holder ends without numbering anything
    waiter.join(timeout=30)
    assert numbered == [1]  # the queued event first, then its own
    assert _log_state(db) == ([0, 1], ["queued", "indexed"], 0)


def _until_a_transaction_waits_for_a_lock(postgres_url: str) -> None:
    deadline = time.monotonic() + 30
    while not waiting_on_a_lock(postgres_url.replace("+psycopg", "")):
        assert time.monotonic() < deadline, "no transaction came to wait for the head"


def test_an_append_that_needs_its_index_fails_with_503_when_the_head_stays_held(
    db: Database,
) -> None:
    log = _log(wait_seconds=1)
    with audit_head_held(db), db.session() as session:
        ctx = RequestContext("too-late")
        with pytest.raises(AuditUnavailableError) as refused:
            log.append(session, ctx, RECORD, indexed=True)
        session.rollback()
    assert refused.value.status == 503 and refused.value.headers["Retry-After"] == "1"
    assert _log_state(db) == ([], [], 0)  # nothing was recorded or changed


def test_concurrent_appends_leave_no_gap_and_no_duplicate(db: Database) -> None:
    log, threads, per_thread = _log(), 8, 40
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(per_thread):
                _append(db, log, f"w{worker}-{n}", indexed=n % 10 == 0)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    workers = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not failures
    with db.session() as session:
        while integrate_queued(session):
            session.commit()
    seqs, requests, queued = _log_state(db)
    total = threads * per_thread
    assert seqs == list(range(total)) and queued == 0
    assert sorted(requests) == sorted(
        f"w{w}-{n}" for w in range(threads) for n in range(per_thread)
    )


_CHILD = """
import sys
from escrow.audit.integrator import integrate_queued
from storage.db import Database
database = Database(sys.argv[1])
with database.session() as session:
    print(integrate_queued(session), flush=True)  # written, not committed
    sys.stdin.read()  # killed here, mid-batch
"""


def test_an_integrator_killed_mid_batch_leaves_no_gap_and_no_duplicate(
    db: Database, postgres_url: str
) -> None:
    log = _log(wait_seconds=30)
    with audit_head_held(db):
        for n in range(5):
            _append(db, log, f"q-{n}")
    child = subprocess.Popen(  # noqa: S603 - this interpreter
        [sys.executable, "-c", _CHILD, postgres_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"5"  # it holds the head, batch written
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:  # pragma: no cover - only if an assertion above failed
            child.kill()
            child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
    assert child.returncode == -signal.SIGKILL
    # Its transaction died with it: the next holder (here an append that waits for the
    # head) numbers the same five events, then its own.
    assert _append(db, log, "after", indexed=True) == 5
    assert _log_state(db) == (
        list(range(6)),
        [*(f"q-{n}" for n in range(5)), "after"],
        0,
    )


def test_a_queue_longer_than_a_batch_is_numbered_in_batches(db: Database) -> None:
    log = _log()
    with audit_head_held(db), db.session() as session:
        ctx = RequestContext("bulk")
        for _ in range(BATCH + 5):
            assert log.append(session, ctx, RECORD) is None
        session.commit()
    with db.session() as session:
        assert integrate_queued(session) == BATCH
        session.commit()
    with db.session() as session:
        assert integrate_queued(session) == 5
        session.commit()
    seqs, _, queued = _log_state(db)
    assert seqs == list(range(BATCH + 5)) and queued == 0


def _queued(db: Database) -> int:
    return _log_state(db)[2]


def test_the_last_write_of_a_transaction_that_only_read_commits_on_its_own(
    db: Database,
) -> None:
    """A denial or a download reads, then records its event and commits: the event goes out
    in one statement, committed at once (what another session sees before the commit)."""
    log = _log()
    with db.session() as session:
        session.scalar(select(func.count()).select_from(AuditEvent))  # it only read
        log.append(session, RequestContext("r-last"), RECORD, last=True)
        assert _queued(db) == 1
        session.commit()
    assert _queued(db) == 1


def test_an_event_after_a_write_commits_with_it_even_when_last(db: Database) -> None:
    log = _log()
    with db.session() as session:
        _append(db, log, "earlier")  # another transaction's, committed
        session.execute(delete(AuditQueueEntry))  # this transaction's change
        log.append(session, RequestContext("r-after-write"), RECORD, last=True)
        assert _queued(db) == 1  # neither the delete nor the event is seen yet
        session.rollback()
    assert _queued(db) == 1


def test_a_listener_that_may_write_keeps_the_last_event_in_the_transaction(
    db: Database,
) -> None:
    """A listener writes in the event's transaction (webhook deliveries, pruned files), so
    an event it may write for is never committed ahead of what the listener writes."""
    log = _log()
    written: list[str] = []
    log.add_listener(lambda _s, _c, record, _seq: written.append(record.action))  # may write
    with db.session() as session:
        log.append(session, RequestContext("r-listened"), RECORD, last=True)
        assert written == ["x.y"]
        assert _queued(db) == 0
        session.rollback()
    assert _queued(db) == 0
    quiet = _log()
    quiet.add_listener(lambda *_: None, writes=lambda record: record.action != "x.y")
    with db.session() as session:
        quiet.append(session, RequestContext("r-quiet"), RECORD, last=True)
        assert _queued(db) == 1
        session.rollback()
    assert _queued(db) == 1


def test_a_listener_given_to_the_log_at_its_creation_may_write_for_any_record(
    db: Database,
) -> None:
    log = AuditLog(SystemClock(), lambda value: value.hex(), [lambda *_: None])
    with db.session() as session:
        log.append(session, RequestContext("r-created-with"), RECORD, last=True)
        session.rollback()
    assert _queued(db) == 0
