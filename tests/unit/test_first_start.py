"""README and Makefile as a newcomer meets them (issue 19)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")


def _recipe(target: str) -> tuple[list[str], str]:
    """The prerequisites and the commands of a Makefile target."""
    match = re.search(rf"^{re.escape(target)}:([^\n]*)\n((?:\t[^\n]*\n)*)", MAKEFILE, re.M)
    assert match, target
    return match.group(1).split(), match.group(2)


def test_make_run_installs_runtime_dependencies_only() -> None:
    prerequisites, _ = _recipe("run")
    assert prerequisites == ["$(RUNTIME_STAMP)"]
    _, runtime = _recipe("$(RUNTIME_STAMP)")
    assert "pip install --quiet -e .\n" in runtime and "[dev]" not in runtime
    test_prerequisites, _ = _recipe("test")
    assert "$(STAMP)" in test_prerequisites
    _, dev = _recipe("$(STAMP)")
    assert "-e '.[dev]'" in dev


def test_readme_links_nothing_outside_the_repository() -> None:
    links = re.findall(r"\]\(([^)]+)\)", README)
    assert links, "README links ARCHITECTURE.md"
    for link in links:
        assert not re.match(r"(?i)[a-z]+:|/|\.\./", link), link
        assert (ROOT / link.split("#", 1)[0]).exists(), link
    assert "../shared" not in README and "DESIGN" not in README


def test_readme_says_how_to_run_escrow() -> None:
    assert "### Running `escrow`" in README
    assert ".venv/bin/escrow" in README and ". .venv/bin/activate" in README


def test_the_walkthrough_waits_for_readiness_before_its_first_request() -> None:
    walkthrough = README.split("## Walkthrough", 1)[1].split("\n## ", 1)[0]
    ready = walkthrough.index("/health/ready")
    assert ready < walkthrough.index("/v1/auth/token")


def test_the_receipt_file_for_escrow_receipt_verify_is_shown() -> None:
    section = README.split("escrow receipt verify receipt.json", 1)[0].rsplit("```sh", 1)[1]
    assert "jq .receipt > receipt.json" in section
    assert '"type": "partner-escrow/deposit-receipt/v1"' in section


def test_readme_says_what_schema_serves() -> None:
    assert "| `GET /schema` | Swagger UI" in README
    assert "`GET /schema/openapi.json`" in README
