"""Audit entries: canonical bytes prepared before the lock, size and content rules."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import canonical_json
from escrow.audit.integrator import numbered_entry
from escrow.audit.log import (
    ENTRY_VERSION,
    MAX_ENTRY_BYTES,
    AuditEntryTooLargeError,
    _checked_reason,
    _EntryTemplate,
)

MEMBERS: dict[str, Any] = {
    "request_id": "req-1",
    "actor": {"id": "p1", "org": "o1"},
    "action": "org.create",
    "resource": {"type": "organization", "id": "o2"},
    "outcome": "success",
    "reason": None,
    "orgs": ["o1", "o2"],
    "policy": None,
    "details": {"seq": 0, "time": "nested keys named like ours", "é": "ü"},
    "sensitive": {"client_ip": "hmac-sha256:00"},
}
JSON_TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20)


@given(seq=st.integers(0, 2**53 - 1), details=st.dictionaries(JSON_TEXT, JSON_TEXT, max_size=5))
def test_rendered_entry_is_the_canonical_json_of_the_whole_event(
    seq: int, details: dict[str, str]
) -> None:
    members = {**MEMBERS, "details": details}
    time = "2026-01-02T03:04:05.000006+00:00"
    template = _EntryTemplate(members, time=time)
    rendered = numbered_entry(template.head, seq, template.tail).encode("utf-8")
    assert rendered == canonical_json({**members, "seq": seq, "time": time, "v": ENTRY_VERSION})


def test_oversized_entries_are_refused_before_anything_is_written() -> None:
    members = {**MEMBERS, "details": {"blob": "x" * MAX_ENTRY_BYTES}}
    with pytest.raises(AuditEntryTooLargeError, match="more than 65536"):
        _EntryTemplate(members, time="t")


@pytest.mark.parametrize("reason", ["policy", "bad_secret", "kek:rotated", None])
def test_reason_codes_pass(reason: str | None) -> None:
    assert _checked_reason(reason) == reason


@pytest.mark.parametrize("reason", ["Approved after the call with Jane", "", "x" * 65])
def test_free_text_reasons_are_refused(reason: str) -> None:
    with pytest.raises(ValueError, match="sensitive"):
        _checked_reason(reason)


def test_the_offline_verifier_imports_no_server_or_database_code() -> None:
    probe = (
        "import sys, escrow.cli.audit; "
        "heavy = {'sqlalchemy', 'litestar', 'psycopg', 'alembic', 'oso', 'storage', 'uvicorn'}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))"
    )
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
