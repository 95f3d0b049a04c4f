"""SECURITY.md cites tests as evidence; every cited file and test must exist."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).parents[1]
DOC = (TESTS.parent / "SECURITY.md").read_text()


def _defined(path: Path) -> set[str]:
    return set(re.findall(r"^\s*def (test_\w+)", path.read_text(), flags=re.MULTILINE))


def test_every_test_cited_in_security_md_exists() -> None:
    missing = []
    # `file.py::name`, `file.py` (name, name) and bare `file.py` citations.
    for group in re.findall(r"`((?:api|unit|faults|fuzz|live)/[\w/]+\.py)[^`]*`", DOC):
        if not (TESTS / group).is_file():
            missing.append(group)
    for path, name in re.findall(r"`((?:api|unit|faults|fuzz|live)/[\w/]+\.py)::(test_\w+)`", DOC):
        if (TESTS / path).is_file() and name not in _defined(TESTS / path):
            missing.append(f"{path}::{name}")
    for path, names in re.findall(
        r"`((?:api|unit|faults|fuzz|live)/[\w/]+\.py)`\s*\(([^)]*)\)", DOC
    ):
        if not (TESTS / path).is_file():
            continue
        defined = _defined(TESTS / path)
        missing += [f"{path}::{n}" for n in re.findall(r"`(test_\w+)`", names) if n not in defined]
    assert missing == []
