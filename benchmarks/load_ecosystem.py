"""The partners of a load run: their orgs, keys and released datasets, and the data they
deposit.

Deposits are CSV tables generated from a seed, so a client that downloads a version (or the
view released over it) recomputes what it must receive from the seed alone, instead of
keeping every deposit in memory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

FIELDS = ["id", "region", "amount", "note"]
SCHEMA = {
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "region", "type": "string"},
        {"name": "amount", "type": "number"},
        {"name": "note", "type": "string"},
    ]
}
VIEW = {
    "fields": ["region", "amount"],
    "where": {"all": [{"field": "region", "op": "eq", "value": "EU"}]},
}
REGIONS = ("EU", "US", "APAC", "LATAM")
_NOTES_RNG = random.Random(0)
NOTES = tuple(
    "".join(_NOTES_RNG.choices("abcdefghijklmnopqrstuvwxyz ", k=_NOTES_RNG.randint(8, 60)))
    for _ in range(256)
)
MIN_DEPOSIT, MAX_DEPOSIT = 4 << 10, 2 << 20


# ------------------------------------------------------------------------------ data


def table_rows(seed: int, size: int) -> list[list[str]]:
    """About ``size`` bytes of rows, the same for the same seed."""
    rng = random.Random(seed)
    rows: list[list[str]] = []
    total = 0
    while total < size:
        row = [str(len(rows)), rng.choice(REGIONS), f"{rng.randrange(10**7) / 100:.2f}"]
        row.append(rng.choice(NOTES))
        rows.append(row)
        total += sum(map(len, row)) + 5
    return rows


def as_csv(header: list[str], rows: list[list[str]]) -> bytes:
    """RFC 4180 (the csv module's "excel" dialect, CRLF), as the service writes views."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def deposit_body(seed: int, size: int) -> bytes:
    return as_csv(FIELDS, table_rows(seed, size))


def expected_view(seed: int, size: int) -> bytes:
    rows = table_rows(seed, size)
    return as_csv(["region", "amount"], [[r[1], r[2]] for r in rows if r[1] == "EU"])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------ principals


class Principal:
    """An API key and the access token it buys, renewed at half its lifetime."""

    def __init__(self, url: str, key_id: str, secret: str) -> None:
        self.url, self.key_id, self.secret = url, key_id, secret
        self._token = ""
        self._renew_at = 0.0
        self._lock = threading.Lock()

    def headers(self, http: httpx.Client) -> dict[str, str]:
        with self._lock:
            if time.monotonic() >= self._renew_at:
                response = http.post(
                    "/v1/auth/token", json={"key_id": self.key_id, "secret": self.secret}
                )
                response.raise_for_status()
                issued = response.json()
                self._token = issued["access_token"]
                self._renew_at = time.monotonic() + issued["expires_in"] / 2
            return {"Authorization": f"Bearer {self._token}"}


@dataclass
class Org:
    slug: str
    steward: Principal
    member: Principal
    auditor: Principal
    open_id: str = ""  # released whole to the downstream partner
    viewed_id: str = ""  # released under VIEW to the downstream partner
    upstream: Org | None = None  # whose datasets this org receives
    downstream: Org | None = None


@dataclass(frozen=True)
class Version:
    dataset_id: str
    number: int
    seed: int
    size: int
    sha256: str
    audit_index: int


class Registry:
    """Every deposited version, shared by the clients (read under a lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._versions: dict[str, list[Version]] = defaultdict(list)
        self._indexes: list[int] = []

    def add(self, version: Version) -> None:
        with self._lock:
            self._versions[version.dataset_id].append(version)
            self._indexes.append(version.audit_index)

    def pick(self, dataset_id: str, rng: random.Random) -> Version:
        with self._lock:
            return rng.choice(self._versions[dataset_id])

    def audit_index(self, rng: random.Random) -> int:
        with self._lock:
            return rng.choice(self._indexes)


def _expect(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise RuntimeError(
            f"setup: {response.request.url} -> {response.status_code} {response.text}"
        )
    body: dict[str, Any] = response.json()
    return body


def _deposit(http: httpx.Client, org: Org, dataset_id: str, registry: Registry, seed: int) -> None:
    body = deposit_body(seed, 64 << 10)
    headers = {**org.steward.headers(http), "Content-Type": "text/csv"}
    out = _expect(
        http.post(f"/v1/datasets/{dataset_id}/versions", content=body, headers=headers), 201
    )
    registry.add(
        Version(
            dataset_id, out["version"], seed, 64 << 10, out["sha256"], out["receipt"]["audit_index"]
        )
    )


def _make_org(url: str, operator: Principal, slug: str, registry: Registry, seed: int) -> Org:
    with httpx.Client(base_url=url, timeout=120) as http:
        as_operator = operator.headers(http)
        _expect(
            http.post(
                "/v1/orgs",
                json={"slug": slug, "name": slug, "tier": "strategic"},
                headers=as_operator,
            ),
            201,
        )
        # The operator seeds the org's first admin; that admin creates everyone else.
        seeded = _expect(
            http.post(
                f"/v1/orgs/{slug}/service-accounts",
                json={"name": "load-admin", "roles": ["admin"]},
                headers=as_operator,
            ),
            201,
        )["api_key"]
        admin = Principal(url, seeded["key_id"], seeded["secret"]).headers(http)
        keys = []
        for role in ("steward", "member", "auditor"):
            account = _expect(
                http.post(
                    f"/v1/orgs/{slug}/service-accounts",
                    json={"name": f"load-{role}", "roles": [role]},
                    headers=admin,
                ),
                201,
            )
            key = _expect(
                http.post(f"/v1/orgs/{slug}/service-accounts/{account['id']}/keys", headers=admin),
                201,
            )
            keys.append(Principal(url, key["key_id"], key["secret"]))
        org = Org(slug, steward=keys[0], member=keys[1], auditor=keys[2])
        for kind in ("open", "viewed"):
            body = {
                "name": f"{kind}-feed",
                "media_type": "text/csv",
                "labels": [],
                "schema": SCHEMA,
            }
            created = _expect(
                http.post("/v1/datasets", json=body, headers=org.steward.headers(http)), 201
            )
            setattr(org, f"{kind}_id", created["id"])
            _deposit(http, org, created["id"], registry, seed + len(kind))
        return org


def release(http: httpx.Client, owner: Org, dataset_id: str) -> None:
    """Setup: one agreement per dataset for the downstream partner, approved (released)."""
    assert owner.downstream is not None
    body: dict[str, Any] = {
        "beneficiary": owner.downstream.slug,
        "purpose": "load",
        "approvals": {"required": 1, "from": ["owner:steward"]},
    }
    if dataset_id == owner.viewed_id:
        body["view"] = VIEW
    headers = owner.steward.headers(http)
    agreement = _expect(
        http.post(f"/v1/datasets/{dataset_id}/agreements", json=body, headers=headers), 201
    )
    decision = {"decision": "approve", "reason": "load"}
    approved = _expect(
        http.post(f"/v1/agreements/{agreement['id']}/approvals", json=decision, headers=headers),
        201,
    )
    if approved["state"] != "released":
        raise RuntimeError(f"setup: agreement not released: {approved}")


def build_orgs(
    url: str, operator: Principal, count: int, run: str, registry: Registry
) -> list[Org]:
    """``count`` orgs in a ring: org i releases both its datasets to org i+1."""
    slugs = [f"load-{run}-{i}" for i in range(count)]
    with ThreadPoolExecutor(4) as pool:
        orgs = list(
            pool.map(lambda i: _make_org(url, operator, slugs[i], registry, i * 1000), range(count))
        )
    with httpx.Client(base_url=url, timeout=120) as http:
        for i, org in enumerate(orgs):
            org.downstream, orgs[(i + 1) % count].upstream = orgs[(i + 1) % count], org
            if count > 2 or i == 0:  # two orgs share one partnership
                pair = {"orgs": [org.slug, orgs[(i + 1) % count].slug], "kind": "supplier"}
                _expect(
                    http.post("/v1/partnerships", json=pair, headers=operator.headers(http)), 201
                )
        for org in orgs:
            release(http, org, org.open_id)
            release(http, org, org.viewed_id)
    return orgs
