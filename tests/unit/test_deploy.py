"""The deployment files agree with the code: settings, commands, probes, secrets, non-root.

No container engine or cluster runs here, so these checks are what keeps deploy/ from
drifting: a renamed setting, a removed command or a moved health endpoint fails CI.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from escrow.app import live, ready
from escrow.cli.main import cli

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
MANIFESTS = sorted((DEPLOY / "k8s").glob("*.yaml"))
SETTING = re.compile(r"ESCROW_[A-Z0-9_]+")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _pod_specs() -> list[dict[str, Any]]:
    specs = []
    for path in MANIFESTS:
        for doc in _documents(path):
            if doc["kind"] in {"Deployment", "Job"}:
                specs.append(doc["spec"]["template"]["spec"])
    return specs


def _containers() -> list[dict[str, Any]]:
    return [c for spec in _pod_specs() for c in spec["containers"] + spec.get("initContainers", [])]


def test_every_setting_the_deploy_files_name_is_one_the_server_reads() -> None:
    known = set(SETTING.findall((ROOT / "escrow" / "config.py").read_text()))
    files = [*MANIFESTS, DEPLOY / "compose.yaml", DEPLOY / "Containerfile"]
    named = {name for path in files for name in SETTING.findall(path.read_text())}
    assert named, "the deploy files configure the server through ESCROW_* settings"
    assert named - known == set()


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = _documents(DEPLOY / "k8s" / "kustomization.yaml")
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in MANIFESTS} - {"kustomization.yaml"}


@pytest.mark.parametrize("container", _containers(), ids=lambda c: c["name"])
def test_every_escrow_command_in_the_manifests_exists(container: dict[str, Any]) -> None:
    argv: list[str] = container.get("args") or container.get("command") or []
    if not argv or argv[0] != "escrow":
        return
    result = CliRunner().invoke(cli, [*argv[1:], "--help"])
    assert result.exit_code == 0, result.output


def test_probes_point_at_the_health_endpoints() -> None:
    (api,) = [c for c in _containers() if c["name"] == "api"]
    assert api["livenessProbe"]["httpGet"]["path"] in live.paths
    assert api["startupProbe"]["httpGet"]["path"] in live.paths
    assert api["readinessProbe"]["httpGet"]["path"] in ready.paths


def test_pods_run_as_non_root_without_privilege_escalation() -> None:
    for spec in _pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
    for container in _containers():
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_secrets_are_referenced_not_shipped_and_are_documented() -> None:
    kinds = {doc["kind"] for path in MANIFESTS for doc in _documents(path)}
    assert "Secret" not in kinds
    text = "\n".join(p.read_text() for p in MANIFESTS)
    secrets = set(re.findall(r"secretName: ([a-z0-9-]+)|secretKeyRef: \{name: ([a-z0-9-]+),", text))
    secrets = {name for pair in secrets for name in pair if name}
    assert secrets == {"escrow-database", "escrow-s3", "escrow-keyring"}
    readme = (ROOT / "README.md").read_text()
    for name in secrets:
        assert f"secret generic {name}" in readme, f"README must say how to create {name}"


def test_container_image_is_multi_stage_and_non_root() -> None:
    lines = (DEPLOY / "Containerfile").read_text().splitlines()
    assert sum(line.startswith("FROM ") for line in lines) >= 2
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}


def test_compose_services_have_health_checks() -> None:
    (compose,) = _documents(DEPLOY / "compose.yaml")
    long_running = {n: s for n, s in compose["services"].items() if n != "migrate"}
    assert set(long_running) == {"postgres", "minio", "api"}
    for name, service in long_running.items():
        assert "healthcheck" in service, name
