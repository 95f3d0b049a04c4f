"""Sustained load: N partner clients for T seconds, then every digest and the audit log checked.

    .venv/bin/python benchmarks/load.py [--clients 32] [--seconds 60] [--replicas 2] [--workers 1]
    .venv/bin/python benchmarks/load.py --url http://127.0.0.1:8000 --key-id K --secret S

Without --url it starts its own stack (load_stack.py): a throwaway PostgreSQL database on
ESCROW_TEST_PG_ADMIN_URL, moto as the S3 server and --replicas `escrow serve` processes (each
with --workers worker processes) on one keyring, the clients spread over them. With --url
it uses that server and an operator key.

1. Setup over HTTP: P partner orgs in a ring of partnerships, each with a steward, a member
   and an auditor, an "open" CSV dataset released whole to its downstream partner and a
   "viewed" one released under a fixed view (two fields, the EU rows).
2. Baseline: the same clients call GET /health/live for --baseline-seconds.
3. The mix (weights: --mix): deposit (a 4 KiB-2 MiB CSV), download (a whole version: own, or
   released whole), view (a version released under the view), release (agreement, then the
   approval that releases it), audit.events (a page of the org's trail), audit.proof (an
   inclusion proof, verified against the signed checkpoint).
4. Checks: each whole download's SHA-256 against its deposit receipt, each view against the
   view computed here from the same rows; the whole audit log exported and verified with
   `escrow audit verify`; each successful request's events (by X-Request-ID) exactly those
   its action records: none missing, none duplicated.

Prints per operation: count, throughput, p50/p99 latency and p50 against the baseline's, and
errors; then the checks. Exits 1 on any error or mismatch.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from live_server import ESCROW
from load_clients import EXPECTED_EVENTS, MIX, Client, Results
from load_ecosystem import Principal, Registry, build_orgs
from load_stack import load_stack
from prometheus_client.parser import text_string_to_metric_families

from crypto import parse_verifier_key


def parse_mix(text: str | None) -> dict[str, int]:
    if not text:
        return dict(MIX)
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name.strip() not in MIX or not weight.strip().isdigit():
            raise SystemExit(f"--mix takes {','.join(f'{k}=N' for k in MIX)}; got {part!r}")
        mix[name.strip()] = int(weight)
    return mix


def run_threads(clients: list[Client], seconds: float, work: str) -> float:
    """Runs ``client.<work>(deadline)`` in one thread per client; returns the elapsed time."""
    started = time.monotonic()
    deadline = started + seconds
    threads = [
        threading.Thread(target=getattr(client, work), args=(deadline,), name=f"client-{i}")
        for i, client in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


def audit_check(operator: Principal, url: str, results: Results, workdir: Path) -> list[str]:
    """Exports and verifies the whole log; compares each successful request's events."""
    bundle, key = workdir / "audit.jsonl", workdir / "audit.key"
    with httpx.Client(base_url=url, timeout=600) as http:
        key.write_text(http.get("/v1/audit/public-key").text)
        with (
            http.stream("GET", "/v1/audit/export", headers=operator.headers(http)) as response,
            bundle.open("wb") as out,
        ):
            response.raise_for_status()
            for chunk in response.iter_bytes():
                out.write(chunk)
    verified = subprocess.run(
        [ESCROW, "audit", "verify", str(bundle), "--public-key", str(key)],
        capture_output=True,
        text=True,
        check=False,
    )
    report = [(verified.stdout + verified.stderr).strip()]
    if verified.returncode != 0:
        results.mismatches["audit log verification"] += 1
        return report
    recorded: dict[str, list[str]] = {}
    with bundle.open("rb") as lines:
        next(lines)  # header
        for line in lines:
            record = json.loads(line)
            if "entry" not in record:
                break  # trailer
            entry = json.loads(record["entry"])
            recorded.setdefault(entry["request_id"], []).append(entry["action"])
    for request_id, op in results.audited:
        if sorted(recorded.get(request_id, [])) != sorted(EXPECTED_EVENTS[op]):
            results.mismatches[f"audit events of {op}"] += 1
            if len(results.samples[f"audit events of {op}"]) < 3:
                found = recorded.get(request_id, [])
                results.samples[f"audit events of {op}"].append(f"{request_id}: {found}")
    report.append(f"events of {len(results.audited)} successful requests compared")
    return report


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def print_table(baseline: Results, base_seconds: float, results: Results, seconds: float) -> None:
    base_p50 = percentile(baseline.latencies["health"], 0.5)
    header = f"{'operation':<14}{'ok':>8}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}{'p50/base':>10}"
    print(header + f"{'errors':>8}")
    rows = [("baseline", baseline, "health", base_seconds)]
    rows += [(op, results, op, seconds) for op in results.operations()]
    for name, source, op, elapsed in rows:
        latencies = source.latencies[op]
        p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        ratio = f"{p50 / base_p50:.1f}x" if base_p50 else "-"
        print(
            f"{name:<14}{len(latencies):>8}{len(latencies) / elapsed:>9.1f}{p50 * 1e3:>9.1f}"
            f"{p99 * 1e3:>9.1f}{ratio:>10}{source.errors[op]:>8}"
        )
    total = sum(len(results.latencies[op]) for op in results.operations())
    print(f"{'all':<14}{total:>8}{total / seconds:>9.1f}{'':>28}{sum(results.errors.values()):>8}")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--baseline-seconds", type=float, default=5)
    parser.add_argument("--replicas", type=int, default=2, help="API processes to start")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per replica")
    parser.add_argument("--orgs", type=int, default=0, help="partner orgs (0: clients / 4)")
    parser.add_argument("--mix", help="weights, e.g. deposit=20,download=25,view=10,...")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", help="an existing server instead of starting one")
    parser.add_argument("--key-id", default=os.environ.get("ESCROW_LOAD_KEY_ID"))
    parser.add_argument("--secret", default=os.environ.get("ESCROW_LOAD_SECRET"))
    parser.add_argument("--logs", type=Path, help="keep the started servers' logs here")
    args = parser.parse_args()
    mix = parse_mix(args.mix)
    if args.url:
        if not (args.key_id and args.secret):
            parser.error("--url needs --key-id and --secret (an operator key)")
        target = Target([args.url.rstrip("/")], args.key_id, args.secret, "external", {})
        return measure(args, mix, target)
    with load_stack(args.replicas, args.logs, args.workers) as stack:
        where = (
            f"{args.replicas} replica(s) x {args.workers} worker(s) on PostgreSQL + moto S3,"
            " started here"
        )
        return measure(args, mix, Target(stack.urls, stack.key_id, stack.secret, where, stack.pids))


@dataclass(frozen=True)
class Target:
    urls: list[str]
    key_id: str
    secret: str
    where: str
    pids: dict[str, int]  # processes started here, for CPU accounting


def prepare(args: argparse.Namespace, mix: dict[str, int], target: Target) -> list[Client]:
    """The ecosystem, then one client per --clients, spread over the replicas and orgs."""
    run = uuid.uuid4().hex[:8]
    registry = Registry()
    operator = Principal(target.urls[0], target.key_id, target.secret)
    orgs = build_orgs(target.urls[0], operator, org_count(args), run, registry)
    with httpx.Client(base_url=target.urls[0], timeout=30) as http:
        verifier = parse_verifier_key(http.get("/v1/audit/public-key").text.strip())
    rng = random.Random(args.seed)
    return [
        Client(
            f"{run}-{i}",
            target.urls[i % len(target.urls)],
            orgs[i % len(orgs)],
            registry,
            verifier,
            mix,
            random.Random(rng.getrandbits(64)),
        )
        for i in range(args.clients)
    ]


def org_count(args: argparse.Namespace) -> int:
    return int(args.orgs or max(2, min(16, args.clients // 4)))


def measure(args: argparse.Namespace, mix: dict[str, int], target: Target) -> int:
    started = time.monotonic()
    clients = prepare(args, mix, target)
    setup = time.monotonic() - started
    load_before = load_average()
    base_seconds = run_threads(clients, args.baseline_seconds, "baseline")
    baseline = Results.merge([c.baseline_results for c in clients])
    cpu_before = cpu_seconds(target.pids)
    jobs_before = job_counts(target.urls)
    seconds = run_threads(clients, args.seconds, "run")
    jobs_after = job_counts(target.urls)
    cpu = {k: v - cpu_before[k] for k, v in cpu_seconds(target.pids).items()}
    results = Results.merge([c.results for c in clients])
    load_after = load_average()
    operator = Principal(target.urls[0], target.key_id, target.secret)
    with tempfile.TemporaryDirectory(prefix="escrow-load-audit-") as workdir:
        audit_report = audit_check(operator, target.urls[0], results, Path(workdir))
    for client in clients:
        client.close()

    print(
        f"load: {args.clients} clients x {args.seconds:g} s, {org_count(args)} orgs, "
        f"{target.where}; setup {setup:.1f} s; nproc {os.cpu_count()}; "
        f"load average {load_before} -> {load_after}"
    )
    print_table(baseline, base_seconds, results, seconds)
    print(cpu_line(cpu, seconds))
    print(jobs_line(jobs_before, jobs_after, len(target.urls)))
    return report(results, audit_report)


def job_counts(urls: list[str]) -> dict[str, tuple[float, float]]:
    """Per periodic job: (turns the cluster took, timer ticks of every replica added up)."""
    counts: dict[str, list[float]] = {}
    for i, url in enumerate(urls):
        text = httpx.get(f"{url}/metrics", timeout=30).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                job = sample.labels.get("job")
                if job is None:
                    continue
                turns_ticks = counts.setdefault(job, [0.0, 0.0])
                if sample.name == "escrow_cluster_job_turns_total" and i == 0:
                    turns_ticks[0] = sample.value  # the cluster's: the same on every replica
                elif sample.name == "escrow_job_runs_total":
                    turns_ticks[1] += sample.value  # ran, skipped or failed: one per tick
    return {job: (turns, ticks) for job, (turns, ticks) in counts.items()}


def jobs_line(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]], replicas: int
) -> str:
    """Each job's turns during the mix against its replicas' timer ticks: once per interval
    across the cluster is as many turns as one process's ticks, a replicas-th of them all."""
    parts = []
    for job, (turns, ticks) in sorted(after.items()):
        turns0, ticks0 = before.get(job, (0.0, 0.0))
        runs, fired = turns - turns0, ticks - ticks0
        if runs == 0 and fired > 0:  # no turns, yet it ran: a job every process runs itself
            parts.append(f"{job} {fired:.0f} runs (one per process)")
        else:
            parts.append(f"{job} {runs:.0f} runs / {fired:.0f} ticks")
    return f"periodic jobs during the mix ({replicas} replica(s)): " + ", ".join(parts)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by the machine, this load generator and each named process."""
    tick = os.sysconf("SC_CLK_TCK")
    times = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    idle = int(times[3]) + int(times[4])  # idle and iowait
    used = {"machine": (sum(map(int, times)) - idle) / tick, "load clients": time.process_time()}
    for name, pid in pids.items():
        try:  # utime and stime: fields 14 and 15, after the parenthesised command name
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[name] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            used[name] = float("nan")
    return used


def cpu_line(cpu: dict[str, float], seconds: float) -> str:
    machine = cpu.pop("machine")
    ours = sum(v for v in cpu.values() if v == v)  # nan: a process that went away
    parts = [f"{name} {value:.0f} s" for name, value in cpu.items()]
    available = (os.cpu_count() or 1) * seconds
    return (
        f"CPU during the mix: {machine:.0f} of {available:.0f} core-seconds busy; "
        + ", ".join(parts)
        + f", everything else (PostgreSQL, other jobs) {machine - ours:.0f} s"
    )


def report(results: Results, audit_report: list[str]) -> int:
    moved = results.bytes_up / (1 << 20), results.bytes_down / (1 << 20)
    print(f"deposited {moved[0]:.1f} MiB, downloaded {moved[1]:.1f} MiB")
    for name, count in sorted(results.checked.items()):
        print(f"checked {count} {name}: {results.mismatches[name]} mismatches")
    for line in audit_report:
        print(f"audit: {line}")
    problems = {k: v for k, v in results.mismatches.items() if v} | {
        f"errors in {k}": v for k, v in results.errors.items() if v
    }
    for name, samples in results.samples.items():
        for sample in samples:
            print(f"  {name}: {sample}")
    print("RESULT: " + ("OK: no errors, no mismatches" if not problems else f"FAILED {problems}"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
