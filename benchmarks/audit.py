"""Audit trail costs on PostgreSQL, each printed next to a same-run baseline.

    PYTHONPATH=. .venv/bin/python benchmarks/audit.py [--events 1000000] [--requests 4000]

1. A log of ``--events`` events is bulk-loaded into a throwaway database (entries shaped as
   the service writes them, leaves and subtree roots as AuditLog.append stores them).
2. Checkpoint: issuing one over the last 1000 appends (consistency proof from the previous
   checkpoint, root, signature, insert) vs. inserting and committing one row.
3. Inclusion proofs at that size, in process and through HTTP, vs. reading one event by its
   primary key and vs. an authenticated read of an org card.
4. Audited requests/s through a real `escrow serve` on that database (each a denied probe
   of another org: one audit append) vs. unaudited reads of the caller's own org.
5. A full export through the code path of the API and the CLI (``bundle_chunks``, default
   batch), right after the load with no statistics on the audit tables (autovacuum is
   off for them until an explicit ANALYZE), then again after ANALYZE.
6. `escrow audit verify` (the same function) over a full export vs. only parsing its lines.

``--appends-only`` measures instead what the log can take: ``--threads`` threads each
recording events through ``AuditLog.append`` in transactions of their own (one event
each, as a request records one), vs. the same threads inserting and committing one plain
row each; alternated for ``--rounds``, median and spread printed. Events still queued when
the appends end are then integrated and that time is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from live_server import LiveServer, live_server, partner_steward
from sqlalchemy import select, text

from crypto import CompactRange, Keyring, leaf_hash
from escrow.audit.bundle import verify_bundle
from escrow.audit.checkpoints import CheckpointIssuer
from escrow.audit.export import ExportPlan, bundle_chunks
from escrow.audit.log import AuditLog, AuditRecord
from escrow.audit.tree import MerkleTree
from escrow.clock import SystemClock
from escrow.context import RequestContext
from storage.db import Database
from storage.models import AuditEvent

ADMIN_URL = os.environ.get(
    "ESCROW_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ORIGIN = "partner-escrow.dev/audit/bench"
TIME = "2026-01-01T00:00:00.000000+00:00"


@contextmanager
def throwaway_database() -> Iterator[str]:
    name = f"escrow_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def entry(seq: int) -> bytes:
    """RFC 8785 bytes, members already in canonical order."""
    return (
        '{"action":"bench.event","actor":null,"details":{},"orgs":[],"outcome":"success",'
        f'"policy":null,"reason":null,"request_id":"bench-{seq}",'
        f'"resource":{{"id":null,"type":"bench"}},"sensitive":{{}},"seq":{seq},'
        f'"time":"{TIME}","v":2}}'
    ).encode()


def bulk_load(url: str, tree: CompactRange, count: int) -> None:
    """Appends ``count`` events and their tree nodes with COPY, as one transaction."""
    start = tree.size
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        with cursor.copy(
            "COPY audit_events (seq, occurred_at, request_id, action, resource_type, outcome,"
            " entry) FROM STDIN"
        ) as copy:
            for seq in range(start, start + count):
                copy.write_row(
                    (
                        seq,
                        TIME,
                        f"bench-{seq}",
                        "bench.event",
                        "bench",
                        "success",
                        entry(seq).decode(),
                    )
                )
        with cursor.copy("COPY audit_nodes (level, idx, hash) FROM STDIN") as copy:
            for seq in range(start, start + count):
                for node, digest in tree.append(leaf_hash(entry(seq))):
                    copy.write_row((node.level, node.index, digest))
        cursor.execute(
            "UPDATE audit_head SET size = %s, compact = %s WHERE id = 1",
            (tree.size, b"".join(tree.roots)),
        )


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def latencies(action: Callable[[int], object], indexes: list[int]) -> tuple[float, float]:
    samples = sorted(timed(lambda i=i: action(i)) for i in indexes)
    return statistics.median(samples) * 1e3, samples[int(len(samples) * 0.99)] * 1e3


def checkpoint_cost(db: Database, issuer: CheckpointIssuer, url: str, tree: CompactRange) -> None:
    with db.session() as session:
        issuer.issue(session)
    bulk_load(url, tree, 1000)
    with db.session() as session:
        issue = timed(lambda: issuer.issue(session))
        session.execute(text("CREATE TABLE bench_rows (id int primary key, note text)"))
        session.commit()
        note = issuer.latest(session).note  # type: ignore[union-attr]
        row = timed(
            lambda: (
                session.execute(text("INSERT INTO bench_rows VALUES (1, :n)"), {"n": note}),
                session.commit(),
            )
        )
    print(
        f"checkpoint  issue {issue * 1e3:8.2f} ms   one-row insert {row * 1e3:6.2f} ms"
        f"   ratio {issue / row:6.1f}x"
    )


def proof_latency(db: Database, size: int, server: LiveServer, token: str) -> None:
    indexes = random.sample(range(size), min(size, 1000))
    with db.session() as session:
        tree = MerkleTree(session)
        proof = latencies(lambda i: tree.inclusion_proof(i, size), indexes)
        read = latencies(
            lambda i: session.scalar(select(AuditEvent.entry).where(AuditEvent.seq == i)), indexes
        )
    with server.client(token) as http:
        api = latencies(
            lambda i: http.get(f"/v1/audit/proofs/inclusion?index={i}&size={size}"), indexes[:300]
        )
        card = latencies(lambda _i: http.get("/v1/orgs/acme"), indexes[:300])
    print(
        f"inclusion   proof median {proof[0]:6.2f} ms p99 {proof[1]:6.2f}"
        f"   PK read median {read[0]:6.2f} ms   ratio {proof[0] / read[0]:5.1f}x"
    )
    print(
        f"  via HTTP  proof median {api[0]:6.2f} ms p99 {api[1]:6.2f}"
        f"   org card median {card[0]:6.2f} ms   ratio {api[0] / card[0]:5.1f}x"
    )


def requests_per_second(
    server: LiveServer, token: str, path: str, total: int, workers: int
) -> float:
    def worker() -> None:
        with server.client(token) as http:
            for _ in range(total // workers):
                http.get(path)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (total // workers * workers) / (time.perf_counter() - started)


AUDIT_TABLES = ("audit_events", "audit_nodes", "audit_event_orgs")


def in_threads(threads: int, total: int, work: Callable[[int], None]) -> float:
    """Runs ``work(worker)`` ``total // threads`` times in each thread; operations/s."""

    def loop(worker: int) -> None:
        for _ in range(total // threads):
            work(worker)

    pool = [threading.Thread(target=loop, args=(w,)) for w in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return (total // threads * threads) / (time.perf_counter() - started)


def append_capacity(db: Database, threads: int, total: int) -> tuple[float, float, float]:
    """(events/s recorded, plain rows/s, seconds to integrate what was left queued)."""
    log = AuditLog(SystemClock(), lambda value: value.hex())
    record = AuditRecord("bench.append", "success", "bench", "b-1", org_ids=("o-1",))

    def append(worker: int) -> None:
        with db.session() as session:
            log.append(session, RequestContext(f"bench-{worker}", client_ip="192.0.2.1"), record)
            session.commit()

    def insert(worker: int) -> None:
        with db.session() as session:
            session.execute(
                text("INSERT INTO bench_rows (note) VALUES (:note)"), {"note": f"w{worker}"}
            )
            session.commit()

    events = in_threads(threads, total, append)
    drain = 0.0
    try:
        from escrow.audit.trail import AuditTrail  # the integrator's background job

        trail = AuditTrail(db, None, 0)  # type: ignore[arg-type]  # only integrates here
        drain = timed(trail.integrate_queued)
    except (ImportError, AttributeError):
        pass  # a tree before the integrator: nothing is ever queued
    rows = in_threads(threads, total, insert)
    return events, rows, drain


def integrator_capacity(db: Database, queued: int) -> tuple[float, float]:
    """(events/s the integrator numbers from a queue of ``queued``, rows/s of one plain
    multi-row insert of as many event-sized rows): the integrator's own capacity, whatever
    the recording side costs."""
    from escrow.audit.head import lock_head
    from escrow.audit.trail import AuditTrail

    log = AuditLog(SystemClock(), lambda value: value.hex())
    record = AuditRecord("bench.queued", "success", "bench", "b-1", org_ids=("o-1",))
    with db.session() as holder:  # one event queued behind a holder, then copied
        assert lock_head(holder, wait_seconds=None) is not None
        with db.session() as session:
            assert log.append(session, RequestContext("q", client_ip="192.0.2.1"), record) is None
            session.execute(
                text(
                    "INSERT INTO audit_queue (occurred_at, request_id, action, resource_type,"
                    " resource_id, outcome, entry_head, entry_tail, orgs, secrets)"
                    " SELECT occurred_at, request_id || n, action, resource_type, resource_id,"
                    " outcome, entry_head, entry_tail, orgs, secrets"
                    " FROM audit_queue, generate_series(2, :n) AS n"
                ),
                {"n": queued},
            )
            session.commit()
        holder.rollback()
    trail = AuditTrail(db, None, 0)  # type: ignore[arg-type]  # only integrates here
    numbered = 0

    def integrate() -> None:
        nonlocal numbered
        numbered = trail.integrate_queued()

    events = queued / timed(integrate)
    assert numbered == queued, numbered
    with db.session() as session:
        entry = session.scalar(text("SELECT entry FROM audit_events LIMIT 1"))
        session.execute(text("CREATE TABLE IF NOT EXISTS bench_events (seq bigint, entry text)"))
        rows = [{"seq": n, "entry": entry} for n in range(queued)]
        plain = queued / timed(
            lambda: (
                session.execute(text("INSERT INTO bench_events VALUES (:seq, :entry)"), rows),
                session.commit(),
            )
        )
    return events, plain


def appends_only(db: Database, threads: int, total: int, rounds: int) -> None:
    with db.session() as session:
        session.execute(text("CREATE TABLE bench_rows (id serial primary key, note text)"))
        session.commit()
    ratios, events, rows, drains = [], [], [], []
    for _ in range(rounds):
        e, r, d = append_capacity(db, threads, total)
        events.append(e)
        rows.append(r)
        drains.append(d)
        ratios.append(e / r)
    with db.session() as session:
        size = session.scalar(text("SELECT size FROM audit_head"))
    assert size == rounds * (total // threads * threads), size  # every event numbered once
    print(
        f"appends     {statistics.median(events):8.0f} events/s (min {min(events):.0f}, max"
        f" {max(events):.0f})   plain insert+commit {statistics.median(rows):8.0f} rows/s"
        f"   ratio {statistics.median(ratios):5.2f}x (min {min(ratios):.2f}, max"
        f" {max(ratios):.2f})   queue drained in {max(drains) * 1e3:.0f} ms at most"
        f"   ({threads} threads, {rounds} rounds of {total})"
    )
    try:
        capacity = [integrator_capacity(db, 20_000) for _ in range(rounds)]
    except ImportError:
        return  # a tree before the integrator
    numbered = [events for events, _ in capacity]
    ratios = [events / plain for events, plain in capacity]
    print(
        f"integrator  {statistics.median(numbered):8.0f} events/s numbered from a queue of 20000"
        f" (min {min(numbered):.0f}, max {max(numbered):.0f})   plain multi-row insert"
        f" {statistics.median([plain for _, plain in capacity]):8.0f} rows/s   ratio"
        f" {statistics.median(ratios):5.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f})"
    )


def autovacuum(db: Database, enabled: bool) -> None:
    with db.session() as session:
        for table in AUDIT_TABLES:
            session.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = {enabled})"))
        session.commit()


def analyzed(db: Database) -> bool:
    with db.session() as session:
        found = session.scalar(
            text(
                "SELECT count(*) FROM pg_stats WHERE schemaname = 'public'"
                " AND tablename IN ('audit_events', 'audit_nodes')"
            )
        )
    return bool(found)


def export_time(db: Database, issuer: CheckpointIssuer, label: str) -> None:
    """A full export as the API and `escrow audit export` stream it (default batch)."""
    with db.session() as session:
        signed = issuer.current(session)
        session.commit()
    written = 0

    def export() -> None:
        nonlocal written
        for chunk in bundle_chunks(db, ExportPlan(issuer.origin, signed)):
            written += len(chunk)

    seconds = timed(export)
    print(
        f"export      {signed.size} events ({written / (1 << 20):.0f} MiB) {label}:"
        f" {seconds:6.1f} s ({signed.size / seconds:8.0f} events/s)"
    )


def verify_time(db: Database, issuer: CheckpointIssuer) -> None:
    with db.session() as session:
        signed = issuer.current(session)
    with tempfile.TemporaryDirectory(prefix="escrow-bench-audit-") as folder:
        path = Path(folder) / "audit.jsonl"
        with path.open("wb") as out:
            export = timed(
                lambda: [out.write(c) for c in bundle_chunks(db, ExportPlan(issuer.origin, signed))]
            )
        with path.open("rb") as bundle:
            verify = timed(lambda: verify_bundle(bundle, issuer.verifier))
        with path.open("rb") as bundle:
            parse = timed(lambda: [json.loads(line) for line in bundle])
        mib = path.stat().st_size / (1 << 20)
    print(
        f"full export of {signed.size} events ({mib:.0f} MiB): export {export:6.1f} s"
        f"   verify {verify:6.1f} s   parse only {parse:6.1f} s   ratio {verify / parse:4.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--export-only", action="store_true", help="stop after the exports")
    parser.add_argument("--appends-only", action="store_true", help="only the append capacity")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with throwaway_database() as url:
        db = Database(url.replace("postgresql://", "postgresql+psycopg://", 1))
        db.upgrade()
        if args.appends_only:
            appends_only(db, args.threads, args.requests, args.rounds)
            db.dispose()
            return
        autovacuum(db, False)
        tree = CompactRange()
        load = timed(lambda: bulk_load(url, tree, args.events - 1000))
        print(f"loaded {args.events - 1000} events in {load:.1f} s")
        keyring = Keyring.create(Path(tempfile.mkdtemp()) / "keyring.json")
        issuer = CheckpointIssuer(keyring, ORIGIN, SystemClock())
        assert not analyzed(db)
        export_time(db, issuer, "without statistics")
        with db.session() as session:
            session.execute(text("ANALYZE"))
            session.commit()
        autovacuum(db, True)
        export_time(db, issuer, "after ANALYZE")
        if args.export_only:
            db.dispose()
            return
        checkpoint_cost(db, issuer, url, tree)
        with live_server({"ESCROW_DATABASE_URL": url}) as server:
            with server.client(server.operator_token) as operator:
                operator.post("/v1/orgs", json={"slug": "globex", "name": "G", "tier": "core"})
            with partner_steward(server, "acme") as steward:
                token = steward.headers["Authorization"].split(" ", 1)[1]
            proof_latency(db, args.events, server, token)
            plain = requests_per_second(server, token, "/v1/orgs/acme", args.requests, args.workers)
            audited = requests_per_second(
                server, token, "/v1/orgs/globex", args.requests, args.workers
            )
            print(
                f"requests/s  audited (denied probe) {audited:8.0f}   unaudited read"
                f" {plain:8.0f}   ratio {audited / plain:5.2f}x   ({args.workers} clients)"
            )
        verify_time(db, issuer)
        db.dispose()


if __name__ == "__main__":
    main()
