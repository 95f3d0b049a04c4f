"""Authorization decision latency, and first list pages at 10k and 100k datasets.

    .venv/bin/python benchmarks/authz.py [--sizes 10000 100000] [--grants 10000]
                                         [--database-url URL]

Decisions are timed in-process against the real policy bundle. Pages are timed through
the real HTTP server: the owner's `GET /v1/datasets` at each size, then a partner holding
--grants releases (every tenth dataset of the largest size) lists its datasets and its
agreements. The baseline, in the same run, is the bare `GET /health/live` endpoint of the
same server. Without --database-url the server uses its embedded SQLite.
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
from escrow.config import load_settings
from escrow.context import Actor
from escrow.ids import Uuid7Factory
from escrow.policy.engine import PolicyEngine
from escrow.policy.resources import DatasetResource, OrgResource
from storage.db import Database
from storage.models import Agreement, AgreementParty, Dataset, Organization

POLICIES = Path(__file__).resolve().parents[1] / "policies"


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def decision_latency(rounds: int = 20_000) -> dict[str, tuple[float, float]]:
    """p50/p99 in microseconds of a question asked for the first time (another dataset each
    round) and of one asked again (the engine remembers decisions by their exact inputs),
    alternated round by round."""
    engine = PolicyEngine.from_directory(POLICIES)
    acme = OrgResource("o-acme", "acme", "active", "core")
    actor = Actor("p-1", "o-globex", "globex", ("member",))
    again = DatasetResource("d-0", acme, ("pii",), "active", ("o-globex",))
    samples: dict[str, list[float]] = {"first asked": [], "asked again": []}
    for round_ in range(rounds):
        fresh = DatasetResource(f"d-{round_ + 1}", acme, ("pii",), "active", ("o-globex",))
        for name, dataset in (("first asked", fresh), ("asked again", again)):
            started = time.perf_counter()
            engine.decide(actor, "download", dataset)
            samples[name].append((time.perf_counter() - started) * 1e6)
    return {name: percentiles(values) for name, values in samples.items()}


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


def grant(database_url: str, owner: str, partner: str, count: int) -> None:
    """Releases of every tenth of the owner's datasets to the partner, ``count`` in all."""
    db = Database(database_url)
    new_id = Uuid7Factory(SystemClock())
    with db.session() as session:
        owner_id, partner_id = (
            session.scalar(select(Organization.id).where(Organization.slug == slug))
            for slug in (owner, partner)
        )
        datasets = session.scalars(
            select(Dataset.id).where(Dataset.owner_org_id == owner_id).order_by(Dataset.id)
        ).all()[::10][:count]
        now = datetime.now(UTC)
        for start in range(0, len(datasets), 5000):
            agreements = [
                {
                    "id": new_id(),
                    "dataset_id": dataset_id,
                    "owner_org_id": owner_id,
                    "beneficiary_org_id": partner_id,
                    "purpose": "bench",
                    "required_approvals": 0,
                    "approvers": [],
                    "state": "released",
                    "released_at": now,
                    "created_by": "bench",
                    "created_at": now,
                    "updated_at": now,
                }
                for dataset_id in datasets[start : start + 5000]
            ]
            session.execute(insert(Agreement), agreements)
            parties = [
                {"agreement_id": row["id"], "org_id": org_id, "role": role}
                for row in agreements
                for org_id, role in ((owner_id, "owner"), (partner_id, "beneficiary"))
            ]
            session.execute(insert(AgreementParty), parties)
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
    parser.add_argument("--grants", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    for name, (p50, p99) in decision_latency().items():
        print(f"decision, {name:11}       p50 {p50:8.1f} us   p99 {p99:8.1f} us")
    extra = {"ESCROW_DATABASE_URL": args.database_url} if args.database_url else {}
    with live_server(extra) as server, partner_steward(server) as steward:
        url = load_settings(server.env).database_url  # the server's, with its driver
        base50, base99 = page_latency(steward, "/health/live")
        print(f"baseline GET /health/live    p50 {base50:8.2f} ms   p99 {base99:8.2f} ms")
        for size in args.sizes:
            fill(url, "bench", size)
            p50, p99 = page_latency(steward, "/v1/datasets?limit=50")
            print(
                f"GET /v1/datasets @ {size:>7}  p50 {p50:8.2f} ms   p99 {p99:8.2f} ms"
                f"   ({p50 / base50:.1f}x baseline)"
            )
        with partner_steward(server, "partner") as partner:
            grant(url, "bench", "partner", args.grants)
            for path in ("/v1/datasets?limit=50", "/v1/agreements?limit=50"):
                p50, p99 = page_latency(partner, path)
                print(
                    f"partner GET {path.split('?')[0]:14} {args.grants} grants"
                    f"  p50 {p50:8.2f} ms   p99 {p99:8.2f} ms   ({p50 / base50:.1f}x baseline)"
                )


if __name__ == "__main__":
    main()
