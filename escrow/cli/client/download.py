"""Downloads: streamed to ``<file>.part``, resumed with ``Range``, checked, then renamed.

The ETag of the representation being received is kept beside the part file. A later run
asks only for the missing bytes, with ``If-Range`` naming that ETag, so if the
representation changed the server sends it whole and the download starts over. The
original's SHA-256 (``X-Content-SHA256``, which the signed receipt states too) is checked
over the whole file before it is renamed into place. A disclosure view is not served in
ranges and has no digest to check: it is fetched whole each time.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from escrow.cli.client.api import Client, unreachable
from escrow.cli.client.exits import CliError, ExitCode, integrity_error
from escrow.cli.client.output import Output
from escrow.cli.client.progress import transfer_bar

CHUNK = 1 << 20
PRIVATE_FILE = 0o600  # downloads are plaintext: owner read/write only
ATTEMPTS = 4  # a broken connection is resumed this many times within one run
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_ORIGINAL_TAG = re.compile(r'^"sha256-([0-9a-f]{64})"$')


@dataclass(frozen=True)
class Downloaded:
    path: Path
    dataset_id: str
    version: int
    size: int
    sha256: str  # of the bytes written
    view: bool  # a disclosure view (the granted fields and rows), not the original
    verified: bool  # the SHA-256 matched the version's digest (originals only)
    resumed_from: int  # bytes kept from an interrupted earlier attempt or run


class Throttle:
    """Holds a transfer to ``rate`` bytes per second (``--limit-rate``)."""

    def __init__(self, rate: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self.started = clock()
        self.moved = 0

    def __call__(self, size: int) -> None:
        if not self.rate:
            return
        self.moved += size
        ahead = self.moved / self.rate - (self.clock() - self.started)
        if ahead > 0:
            time.sleep(ahead)


class PartFile:
    """``<target>.part`` and, beside it, the ETag of the representation its bytes are of."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = target.with_name(target.name + ".part")
        self.tag_path = target.with_name(target.name + ".part.etag")

    def resumable(self) -> tuple[int, str] | None:
        """Bytes kept and their ETag, if they are a prefix of an original we can continue."""
        try:
            etag = self.tag_path.read_text(encoding="ascii").strip()
            size = self.path.stat().st_size
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        if not (size and _ORIGINAL_TAG.match(etag)):
            return None
        os.chmod(self.path, PRIVATE_FILE)  # kept by an older client that made it 0644
        return size, etag

    def restart(self, etag: str | None) -> None:
        """An empty ``.part`` only its owner can read: it (then the file) holds plaintext."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        try:
            os.fchmod(fd, PRIVATE_FILE)  # O_CREAT's mode does not apply to an existing file
        finally:
            os.close(fd)
        if etag:
            self.tag_path.write_text(etag + "\n", encoding="ascii")
        else:
            self.tag_path.unlink(missing_ok=True)

    def digest(self) -> hashlib._Hash:
        digest = hashlib.sha256()
        with self.path.open("rb") as kept:
            while chunk := kept.read(CHUNK):
                digest.update(chunk)
        return digest

    def finish(self) -> None:
        os.replace(self.path, self.target)
        self.tag_path.unlink(missing_ok=True)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
        self.tag_path.unlink(missing_ok=True)


@dataclass(frozen=True)
class _Received:
    offset: int  # where this response's bytes started (after a kept prefix)
    tag: str | None
    expected: str | None  # the original's SHA-256; None for a view


@dataclass(frozen=True)
class Fetch:
    dataset_id: str
    version: int
    target: Path
    rate: int | None = None  # bytes per second; None: as fast as it comes


def download(client: Client, fetch: Fetch, out: Output, show: bool) -> Downloaded:
    part = PartFile(fetch.target)
    url = f"/v1/datasets/{fetch.dataset_id}/versions/{fetch.version}/content"
    for attempt in range(1, ATTEMPTS + 1):
        try:
            received = _receive(client, url, part, fetch.rate, show)
            break
        except httpx.TransportError as exc:
            if attempt == ATTEMPTS:
                raise unreachable(client.profile.server, exc) from None
            kept = part.resumable()
            out.note(f"connection lost ({exc}); resuming at byte {kept[0] if kept else 0}")
        except KeyboardInterrupt:
            kept = part.resumable()
            if kept:
                out.note(f"interrupted: {kept[0]} bytes kept in {part.path}; run again to resume")
            raise
    digest = part.digest().hexdigest()
    expected = received.expected
    if expected is not None and digest != expected:
        part.discard()
        raise integrity_error(
            f"the downloaded bytes hash to {digest}, not the version's {expected};"
            " the partial file was removed",
            expected=expected,
            actual=digest,
        )
    size = part.path.stat().st_size
    part.finish()
    return Downloaded(
        path=fetch.target,
        dataset_id=fetch.dataset_id,
        version=fetch.version,
        size=size,
        sha256=digest,
        view=expected is None,
        verified=expected is not None,
        resumed_from=received.offset,
    )


def _receive(client: Client, url: str, part: PartFile, rate: int | None, show: bool) -> _Received:
    """One request: the bytes missing after a kept prefix, or all of them."""
    kept = part.resumable()
    headers = {"Range": f"bytes={kept[0]}-", "If-Range": kept[1]} if kept else {}
    try:
        response = client.send("GET", url, headers=headers, stream=True)
    except CliError as exc:
        if kept and exc.problem.get("status") == 416 and exc.problem.get("size") == kept[0]:
            return _Received(kept[0], kept[1], _expected(kept[1], None))  # complete already
        if kept and exc.problem.get("status") == 416:
            part.discard()  # not a prefix of what is served now: start over
            return _receive(client, url, part, rate, show)
        raise
    try:
        return _write(response, part, kept, rate, show)
    finally:
        response.close()


def _write(
    response: httpx.Response,
    part: PartFile,
    kept: tuple[int, str] | None,
    rate: int | None,
    show: bool,
) -> _Received:
    tag = response.headers.get("etag")
    offset = _continues_at(response, kept)
    if offset == 0:
        part.restart(tag)
    length = response.headers.get("content-length")
    total = offset + int(length) if length and length.isdigit() else None
    throttle = Throttle(rate)
    with (
        part.path.open("ab") as sink,
        transfer_bar(f"downloading {part.target.name}", total, show, done=offset) as advance,
    ):
        for chunk in response.iter_bytes(CHUNK):
            sink.write(chunk)
            advance(len(chunk))
            throttle(len(chunk))
        sink.flush()
        os.fsync(sink.fileno())
    return _Received(offset, tag, _expected(tag, response.headers.get("x-content-sha256")))


def _continues_at(response: httpx.Response, kept: tuple[int, str] | None) -> int:
    """Where this response's bytes go: after the kept prefix only for a matching 206."""
    if response.status_code != 206 or kept is None:
        return 0
    match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
    if match is None or int(match.group(1)) != kept[0]:
        raise CliError.local(
            ExitCode.UNEXPECTED,
            "bad-response",
            "Unexpected answer",
            f"asked for bytes from {kept[0]}, the server sent"
            f" {response.headers.get('content-range')!r}",
        )
    return kept[0]


def _expected(tag: str | None, stated: str | None) -> str | None:
    """The original's digest as both the ETag and X-Content-SHA256 state it; None for a view."""
    match = _ORIGINAL_TAG.match(tag or "")
    if match is None:
        return None
    if stated is not None and stated.lower() != match.group(1):
        raise integrity_error(f"the ETag {tag} and X-Content-SHA256 {stated} disagree")
    return match.group(1)
