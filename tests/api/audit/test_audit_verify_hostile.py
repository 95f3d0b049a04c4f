"""The offline verifier names a hostile bundle's bad entry instead of crashing."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from escrow.cli.audit import audit
from escrow.components import Components
from tests.fixtures.api import Caller, Ecosystem

DEEP = "[" * 200_000 + "]" * 200_000  # far past the JSON decoder's recursion limit


def _export(eco: Ecosystem, operator: Caller, components: Components) -> list[str]:
    eco.org("acme")
    eco.principal("acme", "admin")
    components.trail.issue_checkpoint()
    bundle = operator.get("/v1/audit/export")
    assert bundle.status_code == 200
    return bundle.text.splitlines()


def _verify(lines: list[str], components: Components, tmp_path: Path) -> Result:
    path = tmp_path / "bundle.jsonl"
    path.write_text("\n".join(lines) + "\n")
    key = components.trail.checkpoints.public_key
    return CliRunner().invoke(audit, ["verify", str(path), "--public-key", key])


def test_audit_verify_names_a_deeply_nested_entry(
    eco: Ecosystem, operator: Caller, components: Components, tmp_path: Path
) -> None:
    lines = _export(eco, operator, components)
    item = json.loads(lines[3])
    item["entry"] = DEEP
    lines[3] = json.dumps(item)
    result = _verify(lines, components, tmp_path)
    assert result.exit_code == 1
    assert result.output.startswith(
        f"FAILED entry {item['index']}: is not JSON (nested too deeply)"
    )
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a crash


def test_audit_verify_names_a_deeply_nested_line(
    eco: Ecosystem, operator: Caller, components: Components, tmp_path: Path
) -> None:
    lines = _export(eco, operator, components)
    lines[2] = DEEP
    result = _verify(lines, components, tmp_path)
    assert result.exit_code == 1
    assert result.output.startswith("FAILED line 3: is not a JSON line (nested too deeply)")
    assert isinstance(result.exception, SystemExit)
