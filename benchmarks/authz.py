"""Authorization decision latency, and the first page of GET /v1/datasets at 10k and 100k.

    .venv/bin/python benchmarks/authz.py [--sizes 10000 100000] [--database-url URL]

Decisions are timed in-process against the real policy bundle. Pages are timed through
the real HTTP server; its baseline, in the same run, is the bare `GET /health/live`
endpoint of the same server. Without --database-url the server uses its embedded SQLite.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from live_server import live_server, partner_steward
from sqlalchemy import insert, select

from escrow.clock import SystemClock
from escrow.ids import Uuid7Factory
from escrow.policy.engine import PolicyEngine
from escrow.policy.resources import Actor, DatasetResource, OrgResource
from storage.db import Database
from storage.models import Dataset, Organization

POLICIES = Path(__file__).resolve().parents[1] / "policies"


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def decision_latency(rounds: int = 20_000) -> tuple[float, float]:
    engine = PolicyEngine.from_directory(POLICIES)
    acme = OrgResource("o-acme", "acme", "active", "core")
    actor = Actor("p-1", "o-globex", "globex", ("member",))
    dataset = DatasetResource("d-1", acme, ("pii",), "active", ("o-globex",))
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        engine.decide(actor, "download", dataset)
        samples.append((time.perf_counter() - started) * 1e6)
    return percentiles(samples)


def fill(database_url: str, slug: str, target: int) -> None:
    db = Database(database_url)
    new_id = Uuid7Factory(SystemClock())
    with db.session() as session:
        org_id = session.scalar(select(Organization.id).where(Organization.slug == slug))
        have = session.query(Dataset).filter(Dataset.owner_org_id == org_id).count()
        now = datetime.now(UTC)
        for start in range(have, target, 5000):
            rows = [
                {
                    "id": new_id(),
                    "owner_org_id": org_id,
                    "name": f"ds-{i}",
                    "description": "",
                    "labels": [],
                    "media_type": "text/csv",
                    "schema": None,
                    "status": "active",
                    "version_count": 0,
                    "created_by": "bench",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(start, min(start + 5000, target))
            ]
            session.execute(insert(Dataset), rows)
        session.commit()
    db.dispose()


def page_latency(client: httpx.Client, url: str, rounds: int = 100) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        client.get(url).raise_for_status()
        samples.append((time.perf_counter() - started) * 1e3)
    return percentiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    p50, p99 = decision_latency()
    print(f"authorization decision       p50 {p50:8.1f} us   p99 {p99:8.1f} us")
    extra = {"ESCROW_DATABASE_URL": args.database_url} if args.database_url else {}
    with live_server(extra) as server, partner_steward(server) as steward:
        url = server.env.get("ESCROW_DATABASE_URL") or (
            f"sqlite:///{server.env['ESCROW_DATA_DIR']}/escrow.db"
        )
        base50, base99 = page_latency(steward, "/health/live")
        print(f"baseline GET /health/live    p50 {base50:8.2f} ms   p99 {base99:8.2f} ms")
        for size in args.sizes:
            fill(url, "bench", size)
            p50, p99 = page_latency(steward, "/v1/datasets?limit=50")
            print(
                f"GET /v1/datasets @ {size:>7}  p50 {p50:8.2f} ms   p99 {p99:8.2f} ms"
                f"   ({p50 / base50:.1f}x baseline)"
            )


if __name__ == "__main__":
    main()
