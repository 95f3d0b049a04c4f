"""Audited requests per second through a real server, against a bare app in the same run.

    PYTHONPATH=. .venv/bin/python benchmarks/throughput.py [--seconds 20] [--rounds 3]
        [--connections 32] [--workers 2] [--shape NAME]       (or: make throughput)

A = `escrow serve --workers N` on a throwaway PostgreSQL database (local blob files), set up
over HTTP with two partner organizations: a 4 KiB dataset of the first released whole to
the second. wrk (Debian package `wrk`) drives --connections connections with this mix, one
request of each shape in turn on every connection:

1. a ranged download: `GET .../versions/1/content`, `Range: bytes=0-1023`, by the partner;
2. a 1 KiB deposit: `POST .../versions`, by the owner's steward;
3. a metadata read: `GET /v1/datasets/{id}`, by the partner;
4. a denied probe: `GET /v1/orgs/<an org it may not see>`, by the partner (404).

B = a bare litestar app, served by uvicorn the way `escrow serve` serves (N workers, uvloop,
httptools), answering the same four shapes with bodies of the same sizes and no work.
`--shape content|deposit|metadata|probe` sends that shape alone on every connection instead
of the mix (its ceiling, and what a change to it moves). A and B alternate for --rounds.
For A, audited requests/s is counted from the log (its size after the round, once
everything queued is integrated, minus its size before, over the round's seconds), not
assumed. Every response's status is checked against its shape's;
anything else counts as an error. Also printed: the CPU time the server spent per request
(its processes' user + system time over the round, from /proc: the escrow processes, and
every PostgreSQL process of the machine's cluster), steadier than requests/s on a noisy
machine. Prints per round and the medians with their spread.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from live_server import ESCROW, free_port
from load_stack import child, throwaway_database, wait_ready

# The shapes, in wrk's turn order: (method, path template, expected status); --shape names
# one of NAMES to measure it alone.
NAMES = ("content", "deposit", "metadata", "probe")
SHAPES = (
    ("GET", "/v1/datasets/{dataset}/versions/1/content", 206),
    ("POST", "/v1/datasets/{dataset}/versions", 201),
    ("GET", "/v1/datasets/{dataset}", 200),
    ("GET", "/v1/orgs/{hidden}", 404),
)

# wrk's Lua API does not pair a response with its request (a thread's connections answer
# in any order), so each status is counted: the four shapes are sent in turn, so each
# expected status must be a quarter of the answers (within a few requests in flight), and
# any other status is an error.
_MIX_LUA = """
local all = {
  {method = "GET", path = "%(content)s", token = "%(member)s",
   headers = {["Range"] = "bytes=0-1023"}},
  {method = "POST", path = "%(versions)s", token = "%(steward)s",
   headers = {["Content-Type"] = "text/csv"}, body = "%(body)s"},
  {method = "GET", path = "%(metadata)s", token = "%(member)s", headers = {}},
  {method = "GET", path = "%(probe)s", token = "%(member)s", headers = {}},
}
local shapes = {}
for _, i in ipairs({%(only)s}) do table.insert(shapes, all[i]) end
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  turn = 0
  statuses = {}
end

function request()
  turn = turn %% #shapes + 1
  local shape = shapes[turn]
  local headers = {["Authorization"] = "Bearer " .. shape.token}
  for name, value in pairs(shape.headers) do headers[name] = value end
  return wrk.format(shape.method, shape.path, headers, shape.body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local parts = {}
    for status, n in pairs(thread:get("statuses")) do
      parts[#parts + 1] = string.format("\\"%%d\\": %%d", status, n)
    end
    counts[#counts + 1] = "{" .. table.concat(parts, ", ") .. "}"
  end
  io.write(string.format(
    "RESULT {\\"requests\\": %%d, \\"seconds\\": %%f, \\"p50_ms\\": %%f,"
    .. " \\"p99_ms\\": %%f, \\"socket_errors\\": %%d, \\"statuses\\": [%%s]}\\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout, table.concat(counts, ", ")))
end
"""

_BARE_APP = '''
"""The four shapes with the same status codes and body sizes, and no work at all."""
from litestar import Litestar, Request, Response, get, post

CHUNK = b"x" * 1024
DATASET = {"id": "d", "name": "bench", "media_type": "text/csv", "labels": [],
           "owner": "acme", "status": "active", "version_count": 1, "description": ""}


@get("/v1/datasets/{dataset:str}/versions/1/content", sync_to_thread=False)
def content(dataset: str) -> Response[bytes]:
    return Response(CHUNK, status_code=206, media_type="text/csv",
                    headers={"Content-Range": "bytes 0-1023/4096"})


@post("/v1/datasets/{dataset:str}/versions", status_code=201)
async def deposit(dataset: str, request: Request) -> dict:
    await request.body()
    return {"dataset_id": dataset, "number": 2, "size": 1024, "sha256": "0" * 64}


@get("/v1/datasets/{dataset:str}", sync_to_thread=False)
def metadata(dataset: str) -> dict:
    return DATASET


@get("/v1/orgs/{slug:str}", sync_to_thread=False)
def org(slug: str) -> Response[dict]:
    return Response({"type": "https://partner-escrow.dev/problems/not-found",
                     "title": "No such resource", "status": 404,
                     "detail": f"no organization {slug!r}"},
                    status_code=404, media_type="application/problem+json")


app = Litestar([content, deposit, metadata, org])
'''


@dataclass(frozen=True)
class Round:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    audited_per_second: float | None = None
    escrow_cpu_ms: float | None = None  # per request
    postgres_cpu_ms: float | None = None


@dataclass(frozen=True)
class World:
    dataset: str
    hidden: str  # an org the partner may not see
    steward: str  # tokens
    member: str


def wrk(url: str, script: Path, seconds: int, connections: int, shapes: tuple[int, ...]) -> Round:
    out = subprocess.run(
        [
            shutil.which("wrk") or "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = re.search(r"^RESULT (\{.*\})$", out, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    result = json.loads(found.group(1))
    return Round(
        result["requests"] / result["seconds"],
        result["p50_ms"],
        result["p99_ms"],
        _unexpected(result["statuses"], connections, shapes) + result["socket_errors"],
    )


_TICK = os.sysconf("SC_CLK_TCK")


def _stats() -> dict[int, tuple[int, str, float]]:
    """Every process: pid -> (parent pid, name, user + system CPU seconds)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # it exited
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        found[int(entry.name)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / _TICK)
    return found


def cpu_seconds(root: int) -> tuple[float, float]:
    """(CPU seconds of ``root`` and its descendants, of every postgres process), so far."""
    stats = _stats()
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, (parent, _, _) in stats.items() if parent in tree} - tree
        grew = bool(more)
        tree |= more
    ours = sum(stats[pid][2] for pid in tree if pid in stats)
    postgres = sum(cpu for _, name, cpu in stats.values() if name.startswith("postgres"))
    return ours, postgres


def _unexpected(per_thread: list[dict[str, int]], connections: int, shapes: tuple[int, ...]) -> int:
    """Answers whose status no shape expects, plus any shortfall of an expected status
    beyond the requests that may be in flight when the run stops."""
    counts: dict[int, int] = {}
    for statuses in per_thread:
        for status, n in statuses.items():
            counts[int(status)] = counts.get(int(status), 0) + n
    expected = [SHAPES[i][2] for i in shapes]
    share = sum(counts.values()) / len(expected)  # each shape's share of the answers
    stray = sum(n for status, n in counts.items() if status not in expected)
    short = sum(
        max(0, int(share * expected.count(status) - counts.get(status, 0)) - connections)
        for status in set(expected)
    )
    return stray + short


def mix_script(directory: Path, world: World, shapes: tuple[int, ...]) -> Path:
    """wrk's script sending ``shapes`` (indexes into SHAPES) in turn on every connection."""
    base = f"/v1/datasets/{world.dataset}"
    script = directory / "mix.lua"
    script.write_text(
        _MIX_LUA
        % {
            "content": f"{base}/versions/1/content",
            "versions": f"{base}/versions",
            "metadata": base,
            "probe": f"/v1/orgs/{world.hidden}",
            "steward": world.steward,
            "member": world.member,
            "body": ("region,amount\\n" + "EU,1234567890\\n" * 73)[:1024],
            "only": ", ".join(str(i + 1) for i in shapes),
        }
    )
    return script


def _token(http: httpx.Client, key: dict[str, str]) -> str:
    response = http.post("/v1/auth/token", json={"key_id": key["key_id"], "secret": key["secret"]})
    response.raise_for_status()
    return str(response.json()["access_token"])


def _expect(response: httpx.Response, status: int) -> dict[str, object]:
    if response.status_code != status:
        raise RuntimeError(
            f"setup: {response.request.url} answered {response.status_code}: {response.text}"
        )
    return dict(response.json())


def _account(http: httpx.Client, token: str, org: str, name: str, role: str) -> dict[str, str]:
    """A service account's first key: the operator's seeded admin comes with one; an
    account an admin creates gets one from its keys endpoint."""
    headers = {"Authorization": f"Bearer {token}"}
    accounts = f"/v1/orgs/{org}/service-accounts"
    body = {"name": name, "roles": [role]}
    created = _expect(http.post(accounts, json=body, headers=headers), 201)
    if created.get("api_key") is not None:
        return created["api_key"]  # type: ignore[return-value]
    return _expect(http.post(f"{accounts}/{created['id']}/keys", headers=headers), 201)  # type: ignore[return-value]


def setup_world(url: str, operator: dict[str, str]) -> World:
    """acme (a steward) releases a 4 KiB CSV whole to globex (a member); initech is hidden."""
    with httpx.Client(base_url=url, timeout=60) as http:
        op = _token(http, operator)
        headers = {"Authorization": f"Bearer {op}"}
        for slug in ("acme", "globex", "initech"):
            body = {"slug": slug, "name": slug, "tier": "core"}
            _expect(http.post("/v1/orgs", json=body, headers=headers), 201)
        pair = {"orgs": ["acme", "globex"], "kind": "supplier"}
        _expect(http.post("/v1/partnerships", json=pair, headers=headers), 201)
        acme_admin = _token(http, _account(http, op, "acme", "admin", "admin"))
        globex_admin = _token(http, _account(http, op, "globex", "admin", "admin"))
        steward = _token(http, _account(http, acme_admin, "acme", "steward", "steward"))
        member = _token(http, _account(http, globex_admin, "globex", "member", "member"))
        as_steward = {"Authorization": f"Bearer {steward}"}
        dataset = _expect(
            http.post(
                "/v1/datasets",
                json={"name": "bench", "media_type": "text/csv", "labels": []},
                headers=as_steward,
            ),
            201,
        )["id"]
        data = ("region,amount\n" + "EU,1234567890\n" * 400).encode()[:4096]
        _expect(
            http.post(
                f"/v1/datasets/{dataset}/versions",
                content=data,
                headers={**as_steward, "Content-Type": "text/csv"},
            ),
            201,
        )
        terms = {
            "beneficiary": "globex",
            "purpose": "throughput",
            "approvals": {"required": 1, "from": ["owner:steward"]},
        }
        agreement = _expect(
            http.post(f"/v1/datasets/{dataset}/agreements", json=terms, headers=as_steward), 201
        )
        decision = {"decision": "approve", "reason": "bench"}
        _expect(
            http.post(
                f"/v1/agreements/{agreement['id']}/approvals", json=decision, headers=as_steward
            ),
            201,
        )
    return World(str(dataset), "initech", steward, member)


def log_size(database_url: str) -> int:
    """The audit log's size once nothing is waiting to be integrated."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        deadline = time.monotonic() + 60
        has_queue = conn.execute("SELECT to_regclass('audit_queue')").fetchone() != (None,)
        while has_queue and conn.execute("SELECT count(*) FROM audit_queue").fetchone() != (0,):
            if time.monotonic() > deadline:
                raise RuntimeError("the audit queue was not integrated within 60 s")
            time.sleep(0.05)
        row = conn.execute("SELECT size FROM audit_head WHERE id = 1").fetchone()
        assert row is not None
        return int(row[0])


@contextmanager
def escrow_server(root: Path, workers: int) -> Iterator[tuple[str, str, dict[str, str], int]]:
    """(url, database url, operator key, pid) of `escrow serve --workers N` on PostgreSQL."""
    with ExitStack() as stack:
        database_url = stack.enter_context(throwaway_database())
        port = free_port()
        env = {
            **os.environ,
            "ESCROW_DATA_DIR": str(root / "data"),
            "ESCROW_DATABASE_URL": database_url,
            "ESCROW_BIND": f"127.0.0.1:{port}",
            "ESCROW_WORKERS": str(workers),
            # One client address makes every request: the per-address limits would throttle it.
            "ESCROW_TOKEN_RATE_LIMIT": "false",
            "ESCROW_AUTH_FAILURE_LIMIT": "false",
        }
        subprocess.run([ESCROW, "db", "upgrade"], env=env, check=True, capture_output=True)
        boot = subprocess.run(
            [ESCROW, "bootstrap", "--json"], env=env, check=True, capture_output=True
        )
        log = root / "escrow.log"
        process = stack.enter_context(child([ESCROW, "serve"], env, log))
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, process, log)
        yield url, database_url, json.loads(boot.stdout), process.pid


@contextmanager
def bare_server(root: Path, workers: int) -> Iterator[str]:
    (root / "bare_app.py").write_text(textwrap.dedent(_BARE_APP))
    port = free_port()
    log = root / "bare.log"
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "bare_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--app-dir",
        str(root),
    ]
    with child(argv, dict(os.environ), log) as process:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/v1/datasets/d")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"the bare app did not start; see {log}")
        if process.poll() is not None:
            raise RuntimeError(f"the bare app exited; see {log}")
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--shape", choices=NAMES, help="measure this shape alone instead of the mix"
    )
    args = parser.parse_args()
    shapes = (NAMES.index(args.shape),) if args.shape else tuple(range(len(SHAPES)))
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: `make throughput` installs it (Debian package wrk)")
    escrow_rounds: list[Round] = []
    bare_rounds: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="escrow-throughput-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        url, database_url, operator, pid = stack.enter_context(escrow_server(root, args.workers))
        world = setup_world(url, operator)
        script = mix_script(root, world, shapes)
        bare = stack.enter_context(bare_server(root, args.workers))
        wrk(url, script, 3, args.connections, shapes)  # warm both up
        wrk(bare, script, 3, args.connections, shapes)
        for n in range(args.rounds):
            before = log_size(database_url)
            cpu_before = cpu_seconds(pid)
            measured = wrk(url, script, args.seconds, args.connections, shapes)
            cpu_after = cpu_seconds(pid)
            audited = (log_size(database_url) - before) / args.seconds
            served = measured.requests_per_second * args.seconds
            escrow_rounds.append(
                Round(
                    measured.requests_per_second,
                    measured.p50_ms,
                    measured.p99_ms,
                    measured.errors,
                    audited,
                    1000 * (cpu_after[0] - cpu_before[0]) / served,
                    1000 * (cpu_after[1] - cpu_before[1]) / served,
                )
            )
            bare_rounds.append(wrk(bare, script, args.seconds, args.connections, shapes))
            _print_round(n + 1, escrow_rounds[-1], bare_rounds[-1])
    _print_summary(escrow_rounds, bare_rounds, args)


def _print_round(n: int, escrow: Round, bare: Round) -> None:
    print(
        f"round {n}: escrow {escrow.requests_per_second:7.0f} req/s"
        f" ({escrow.audited_per_second:7.0f} audit events/s) p50 {escrow.p50_ms:6.1f} ms"
        f" p99 {escrow.p99_ms:7.1f} ms errors {escrow.errors}"
        f" cpu/request {escrow.escrow_cpu_ms:.2f} + {escrow.postgres_cpu_ms:.2f} ms   bare"
        f" {bare.requests_per_second:7.0f} req/s p50 {bare.p50_ms:5.1f} ms p99 {bare.p99_ms:6.1f}"
        f" ms errors {bare.errors}",
        flush=True,
    )


def _spread(values: list[float], digits: int = 0) -> str:
    return (
        f"{statistics.median(values):.{digits}f}"
        f" (min {min(values):.{digits}f}, max {max(values):.{digits}f})"
    )


def _print_summary(escrow: list[Round], bare: list[Round], args: argparse.Namespace) -> None:
    ratios = [
        e.requests_per_second / b.requests_per_second for e, b in zip(escrow, bare, strict=True)
    ]
    print(
        f"escrow --workers {args.workers}, {args.connections} connections,"
        f" {args.shape or 'the mix'}, {args.rounds} rounds"
        f" of {args.seconds} s (A/B alternated):\n"
        f"  requests/s        {_spread([r.requests_per_second for r in escrow])}\n"
        f"  audit events/s    {_spread([r.audited_per_second or 0.0 for r in escrow])}"
        " (counted from the log)\n"
        f"  p50 / p99 ms      {statistics.median([r.p50_ms for r in escrow]):.1f} /"
        f" {statistics.median([r.p99_ms for r in escrow]):.1f}\n"
        f"  errors            {sum(r.errors for r in escrow)}\n"
        f"  CPU ms/request    escrow {_spread([r.escrow_cpu_ms or 0.0 for r in escrow], 2)},"
        f" PostgreSQL {_spread([r.postgres_cpu_ms or 0.0 for r in escrow], 2)}\n"
        f"  bare app req/s    {_spread([r.requests_per_second for r in bare])}"
        f" (errors {sum(r.errors for r in bare)})\n"
        f"  ratio to bare     {statistics.median(ratios):.3f}"
        f" (min {min(ratios):.3f}, max {max(ratios):.3f})"
    )


if __name__ == "__main__":
    main()
