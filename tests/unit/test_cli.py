"""Server-side commands on the embedded defaults (SQLite file + local folder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from escrow.cli.main import cli


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"ESCROW_DATA_DIR": str(tmp_path / "data")}


def test_serve_refuses_an_out_of_date_schema(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code == 1 and "out of date" in result.output
    assert CliRunner().invoke(cli, ["db", "current"], env=env).exit_code == 1


def test_upgrade_then_bootstrap_issues_a_new_key_each_time(env: dict[str, str]) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    assert runner.invoke(cli, ["db", "current"], env=env).exit_code == 0
    first = runner.invoke(cli, ["bootstrap", "--json"], env=env)
    second = runner.invoke(cli, ["bootstrap", "--json"], env=env)
    assert first.exit_code == second.exit_code == 0, first.output
    one, two = json.loads(first.output), json.loads(second.output)
    assert set(one) == {"org", "key_id", "secret"} and one["org"] == "platform"
    assert one["key_id"] != two["key_id"]
    keyring = Path(env["ESCROW_DATA_DIR"]) / "keyring.json"
    assert keyring.stat().st_mode & 0o777 == 0o600


def test_bad_configuration_fails_with_the_variable_named(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade"], env={**env, "ESCROW_BIND": "x"})
    assert result.exit_code == 1 and "ESCROW_BIND" in result.output
