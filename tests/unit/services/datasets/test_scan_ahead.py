"""A deposit's table scan on its own thread: the same result, errors surfaced, no thread left."""

from __future__ import annotations

import threading

import pytest

from escrow.datasets.upload import ScanAhead
from tabular.scan import ScanResult, TableScan

BODY = b"region,amount,at\r\n" + b"EU,10,2024-01-31T10:00:00Z\r\nUS,2.5,2024-02-01\r\n" * 500


def _scan_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("deposit-scan")]


def test_the_scan_ahead_gives_what_the_scan_gives_and_stops_its_thread() -> None:
    direct = TableScan("csv")
    ahead = ScanAhead(TableScan("csv"))
    for start in range(0, len(BODY), 997):
        direct.update(BODY[start : start + 997])
        ahead.update(BODY[start : start + 997])
    expected, result = direct.finish(), ahead.finish()
    ahead.close()
    ahead.close()  # idempotent
    assert (result.digest, result.schema) == (expected.digest, expected.schema)
    assert _scan_threads() == []


class _FailingLater(TableScan):
    def update(self, chunk: bytes) -> None:
        if chunk != b"a,b\n":
            raise RuntimeError("scan failed")
        super().update(chunk)


def test_a_failure_on_the_scan_thread_reaches_the_upload() -> None:
    ahead = ScanAhead(_FailingLater("csv"))
    ahead.update(b"a,b\n")  # the first chunk, in line
    ahead.update(b"1,2\n")  # on the thread
    with pytest.raises(RuntimeError, match="scan failed"):
        ahead.update(b"3,4\n")  # waits for the chunk before
    ahead.close()
    assert _scan_threads() == []


def test_a_body_of_one_chunk_is_scanned_without_a_thread() -> None:
    ahead = ScanAhead(TableScan("csv"))
    ahead.update(BODY)
    assert _scan_threads() == []
    assert ahead.finish().digest == _scanned_in_line(BODY).digest
    ahead.close()


def _scanned_in_line(body: bytes) -> ScanResult:
    scan = TableScan("csv")
    scan.update(body)
    return scan.finish()
