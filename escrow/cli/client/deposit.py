"""Deposits: a file streamed to ``POST /v1/datasets/{id}/versions``, never read whole.

The file is hashed first so the server can refuse a body that differs from it
(``X-Content-SHA256``: nothing is kept), and every attempt carries the same
``Idempotency-Key``, so retrying after a lost answer stores one version, not two.
"""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from escrow.cli.client.api import Client, decode
from escrow.cli.client.exits import CliError, ExitCode, integrity_error
from escrow.cli.client.models.datasets import VersionOut
from escrow.cli.client.output import Output
from escrow.cli.client.progress import Advance, transfer_bar

CHUNK = 1 << 20
ATTEMPTS = 3
RETRIED_STATUSES = {502, 503, 504}


@dataclass(frozen=True)
class Deposit:
    dataset_id: str
    path: Path
    media_type: str | None = None  # default: the dataset's
    idempotency_key: str | None = None  # default: a new one per run, reused by its retries


@dataclass(frozen=True)
class Deposited:
    version: VersionOut
    replayed: bool  # the server answered an earlier deposit with the same Idempotency-Key
    idempotency_key: str


def deposit_file(client: Client, deposit: Deposit, out: Output, show: bool) -> Deposited:
    size = deposit.path.stat().st_size
    with transfer_bar(f"hashing {deposit.path.name}", size, show) as advance:
        digest = _sha256(deposit.path, advance)
    key = deposit.idempotency_key or f"escrow-cli-{uuid.uuid4()}"
    headers = {
        "Content-Length": str(size),
        "X-Content-SHA256": digest,
        "Idempotency-Key": key,
    }
    if deposit.media_type:
        headers["Content-Type"] = deposit.media_type
    response = _send(client, deposit, headers, out, show)
    version = decode(response, VersionOut)
    replayed = response.headers.get("idempotent-replayed") == "true"
    if version.sha256 != digest:
        raise CliError.local(
            ExitCode.CONFLICT,
            "idempotency-key-reused",
            "Idempotency-Key already used",
            f"Idempotency-Key {key} already deposited version {version.version} with other"
            f" content (sha256 {version.sha256}); nothing new was stored",
        )
    return Deposited(version, replayed, key)


def _send(
    client: Client, deposit: Deposit, headers: dict[str, str], out: Output, show: bool
) -> httpx.Response:
    """The upload, tried again after a lost connection or a 502-504 with the same key."""
    size = int(headers["Content-Length"])
    for attempt in range(1, ATTEMPTS):
        try:
            return _upload(client, deposit, headers, size, show)
        except CliError as exc:
            if not _retriable(exc):
                raise _explained(exc) from None
            out.note(f"deposit failed ({exc.message}); retrying with the same Idempotency-Key")
            time.sleep(attempt)  # back off from a struggling server: 1 s, then 2 s
    try:
        return _upload(client, deposit, headers, size, show)
    except CliError as exc:
        raise _explained(exc) from None


def _upload(
    client: Client, deposit: Deposit, headers: dict[str, str], size: int, show: bool
) -> httpx.Response:
    with transfer_bar(f"depositing {deposit.path.name}", size, show) as advance:
        return client.send(
            "POST",
            f"/v1/datasets/{deposit.dataset_id}/versions",
            headers=headers,
            body=functools.partial(_chunks, deposit.path, advance),
        )


def _sha256(path: Path, advance: Advance) -> str:
    digest = hashlib.sha256()
    for chunk in _chunks(path, advance):
        digest.update(chunk)
    return digest.hexdigest()


def _chunks(path: Path, advance: Advance) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            advance(len(chunk))
            yield chunk


def _retriable(exc: CliError) -> bool:
    problem = exc.problem
    return (
        problem.get("type", "").endswith("/unreachable")
        or problem.get("status") in RETRIED_STATUSES
    )


def _explained(exc: CliError) -> CliError:
    if exc.problem.get("status") == 422 and "actual" in exc.problem:
        return integrity_error(
            "the bytes the server received do not hash to the file's SHA-256 (did the file"
            " change while it was sent?); nothing was kept",
            expected=exc.problem.get("expected"),
            actual=exc.problem.get("actual"),
        )
    return exc
