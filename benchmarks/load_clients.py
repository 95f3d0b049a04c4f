"""The clients of a load run: each a partner system with its own connection, picking
operations by weight until the deadline, timing them and checking what they receive."""

from __future__ import annotations

import base64
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from load_ecosystem import (
    MAX_DEPOSIT,
    MIN_DEPOSIT,
    VIEW,
    Org,
    Principal,
    Registry,
    Version,
    deposit_body,
    expected_view,
    sha256,
)

from crypto import Checkpoint, CryptoError, NoteVerifier, open_note, verify_inclusion

MIX = {
    "deposit": 20,
    "download": 25,
    "view": 10,
    "release": 10,
    "audit.events": 20,
    "audit.proof": 15,
}
OPERATIONS = ["deposit", "download", "view", "agreement", "approve", "audit.events", "audit.proof"]
EXPECTED_EVENTS: dict[str, list[str]] = {  # what each successful request appends to the log
    "deposit": ["dataset.deposit"],
    "download": ["dataset.download"],
    "view": ["dataset.download", "dataset.download.view"],
    "agreement": ["agreement.create"],
    "approve": ["agreement.approve", "agreement.release"],
    "audit.events": [],  # reading the trail is not audited
    "audit.proof": [],
}

# --------------------------------------------------------------------------- results


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    checked: Counter[str] = field(default_factory=Counter)
    mismatches: Counter[str] = field(default_factory=Counter)
    audited: list[tuple[str, str]] = field(default_factory=list)  # (request id, operation)
    bytes_up: int = 0
    bytes_down: int = 0

    def operations(self) -> list[str]:
        return [op for op in OPERATIONS if self.latencies.get(op) or self.errors[op]]

    def note(self, kind: str, sample: str) -> None:
        if len(self.samples[kind]) < 3:
            self.samples[kind].append(sample)

    @classmethod
    def merge(cls, parts: list[Results]) -> Results:
        merged = cls()
        for part in parts:
            for op, values in part.latencies.items():
                merged.latencies[op].extend(values)
            for kind, samples in part.samples.items():
                for sample in samples:
                    merged.note(kind, sample)
            merged.errors.update(part.errors)
            merged.checked.update(part.checked)
            merged.mismatches.update(part.mismatches)
            merged.audited.extend(part.audited)
            merged.bytes_up += part.bytes_up
            merged.bytes_down += part.bytes_down
        return merged


# --------------------------------------------------------------------------- clients


class Client:
    """One partner system: its own connection, acting for one org, until the deadline."""

    def __init__(
        self,
        name: str,
        url: str,
        org: Org,
        registry: Registry,
        verifier: NoteVerifier,
        mix: dict[str, int],
        rng: random.Random,
    ) -> None:
        self.name, self.org, self.registry, self.verifier, self.rng = (
            name,
            org,
            registry,
            verifier,
            rng,
        )
        self.http = httpx.Client(base_url=url, timeout=120)
        self.results = Results()
        self.baseline_results = Results()
        self._ops = [getattr(self, "_" + op.replace(".", "_")) for op in mix]
        self._weights = list(mix.values())
        self._sent = 0

    def close(self) -> None:
        self.http.close()

    def baseline(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                ok = self.http.get("/health/live").status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                self.baseline_results.latencies["health"].append(time.perf_counter() - started)
            else:
                self.baseline_results.errors["health"] += 1

    def run(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self.rng.choices(self._ops, self._weights)[0]()

    def call(
        self, op: str, who: Principal, method: str, url: str, status: int, **kwargs: Any
    ) -> httpx.Response | None:
        """One request; None (counted as an error of ``op``) unless it answered ``status``."""
        self._sent += 1
        request_id = f"{self.name}-{self._sent}"
        try:
            headers = {**who.headers(self.http), "X-Request-ID": request_id}
            started = time.perf_counter()
            response = self.http.request(
                method, url, headers=headers | kwargs.pop("headers", {}), **kwargs
            )
        except httpx.HTTPError as exc:
            self.results.errors[op] += 1
            self.results.note(f"errors in {op}", f"{request_id}: {type(exc).__name__}: {exc}")
            return None
        if response.status_code != status:
            self.results.errors[op] += 1
            self.results.note(
                f"errors in {op}", f"{request_id}: {response.status_code} {response.text[:300]}"
            )
            return None
        self.results.latencies[op].append(time.perf_counter() - started)
        self.results.audited.append((request_id, op))
        return response

    def check(self, kind: str, ok: bool, what: str) -> None:
        self.results.checked[kind] += 1
        if not ok:
            self.results.mismatches[kind] += 1
            self.results.note(kind, what)

    def _deposit(self) -> None:
        org = self.org
        dataset_id = self.rng.choice([org.open_id, org.viewed_id])
        seed = self.rng.getrandbits(48)
        size = int(MIN_DEPOSIT * (MAX_DEPOSIT / MIN_DEPOSIT) ** self.rng.random())
        body = deposit_body(seed, size)
        digest = sha256(body)
        headers = {"Content-Type": "text/csv", "X-Content-SHA256": digest}
        headers["Idempotency-Key"] = f"{self.name}-{self._sent + 1}"
        response = self.call(
            "deposit", org.steward, "POST", f"/v1/datasets/{dataset_id}/versions", 201,
            content=body, headers=headers,
        )  # fmt: skip
        if response is None:
            return
        self.results.bytes_up += len(body)
        out = response.json()
        self.check("deposit receipts", out["sha256"] == digest, f"{dataset_id} v{out['version']}")
        self.registry.add(
            Version(dataset_id, out["version"], seed, size, digest, out["receipt"]["audit_index"])
        )

    def _download(self) -> None:
        org = self.org
        owned = [org.open_id, org.viewed_id]
        dataset_id = self.rng.choice(owned + ([org.upstream.open_id] if org.upstream else []))
        version = self.registry.pick(dataset_id, self.rng)
        url = f"/v1/datasets/{dataset_id}/versions/{version.number}/content"
        response = self.call("download", org.member, "GET", url, 200)
        if response is None:
            return
        self.results.bytes_down += len(response.content)
        digest = sha256(response.content)
        ok = digest == version.sha256 == response.headers.get("x-content-sha256")
        self.check("whole downloads", ok, f"{dataset_id} v{version.number}: {digest}")

    def _view(self) -> None:
        if self.org.upstream is None:
            return
        dataset_id = self.org.upstream.viewed_id
        version = self.registry.pick(dataset_id, self.rng)
        url = f"/v1/datasets/{dataset_id}/versions/{version.number}/content"
        response = self.call("view", self.org.member, "GET", url, 200)
        if response is None:
            return
        self.results.bytes_down += len(response.content)
        expected = expected_view(version.seed, version.size)
        ok = response.content == expected
        self.check("view downloads", ok, f"{dataset_id} v{version.number}")

    def _release(self) -> None:
        org = self.org
        if org.downstream is None:
            return
        dataset_id = self.rng.choice([org.open_id, org.viewed_id])
        body: dict[str, Any] = {
            "beneficiary": org.downstream.slug,
            "purpose": "load",
            "approvals": {"required": 1, "from": ["owner:steward"]},
        }
        if dataset_id == org.viewed_id:  # every agreement on it grants the same view
            body["view"] = VIEW
        url = f"/v1/datasets/{dataset_id}/agreements"
        created = self.call("agreement", org.steward, "POST", url, 201, json=body)
        if created is None:
            return
        agreement_id = created.json()["id"]
        decision = {"decision": "approve", "reason": "load"}
        url = f"/v1/agreements/{agreement_id}/approvals"
        approved = self.call("approve", org.steward, "POST", url, 201, json=decision)
        if approved is not None:
            self.check("releases", approved.json()["state"] == "released", agreement_id)

    def _audit_events(self) -> None:
        response = self.call(
            "audit.events", self.org.auditor, "GET", "/v1/audit/events", 200, params={"limit": 50}
        )
        if response is not None:
            items = response.json()["items"]
            self.check("audit pages", bool(items), "an empty page of the org's own events")

    def _audit_proof(self) -> None:
        index = self.registry.audit_index(self.rng)
        response = self.call(
            "audit.proof", self.org.member, "GET", "/v1/audit/proofs/inclusion", 200,
            params={"index": index},
        )  # fmt: skip
        if response is None:
            return
        proof = response.json()
        try:
            checkpoint = Checkpoint.parse(open_note(proof["checkpoint"], self.verifier))
            verify_inclusion(
                index,
                checkpoint.size,
                _b64(proof["leaf_hash"]),
                [_b64(node) for node in proof["proof"]],
                checkpoint.root_hash,
            )
            ok = checkpoint.size == proof["tree_size"]
        except CryptoError as exc:
            ok = False
            self.results.note("inclusion proofs", f"index {index}: {exc}")
        self.check("inclusion proofs", ok, f"index {index}")


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
