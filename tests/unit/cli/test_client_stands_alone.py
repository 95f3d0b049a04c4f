"""The CLI client loads nothing of the server: no web framework, database, policy engine or
store, and no escrow module outside ``escrow.cli.client`` (DESIGN section 3).

Checked in a fresh interpreter, since this one has long imported the server.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SERVER_LIBRARIES = ("litestar", "sqlalchemy", "oso", "polar", "minio", "alembic", "psycopg")
# Package inits on the way to the client, and the audit bundle verifier the demo runs:
# it is the format's own module and imports crypto only.
ALLOWED_ESCROW = {"escrow", "escrow.cli", "escrow.audit", "escrow.audit.bundle"}

LOAD_THE_CLIENT = """
import importlib, json, pkgutil, sys
from click.testing import CliRunner
import escrow.cli.client
from escrow.cli.client.login import list_profiles

for found in pkgutil.walk_packages(escrow.cli.client.__path__, "escrow.cli.client."):
    importlib.import_module(found.name)
result = CliRunner().invoke(list_profiles, ["--json"], env={"ESCROW_CONFIG_DIR": sys.argv[1]})
print(json.dumps({"exit_code": result.exit_code, "output": result.output,
                  "modules": sorted(sys.modules)}))
"""


def _loaded_by_the_client(config_dir: Path) -> tuple[dict[str, object], list[str]]:
    run = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", LOAD_THE_CLIENT, str(config_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    report = json.loads(run.stdout)
    return report, report.pop("modules")


def test_the_client_loads_no_server_library_and_no_server_module(tmp_path: Path) -> None:
    report, modules = _loaded_by_the_client(tmp_path)
    assert report["exit_code"] == 0, report["output"]
    assert modules, "the script reported no modules"
    libraries = [m for m in modules if m.split(".")[0] in SERVER_LIBRARIES]
    assert libraries == []
    server = [
        m
        for m in modules
        if m.split(".")[0] == "escrow"
        and not m.startswith("escrow.cli.client")
        and m not in ALLOWED_ESCROW
    ]
    assert server == []
    assert "escrow.cli.client.models.agreements" in modules  # the walk reached the models
