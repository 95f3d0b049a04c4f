"""Policy administration through HTTP: upload, validate, impact, activate, roll back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from escrow.components import Components
from escrow.policy.engine import PolicyBundle
from escrow.policy.store import PolicyStore
from storage.models import AuditEvent
from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.audit import log_session
from tests.fixtures.datasets import create_dataset, deposit
from tests.unit.policy.hostile_org_files import HOSTILE, MEDDLING

POLICIES = Path(__file__).resolve().parents[3] / "policies"
REPO = PolicyBundle.from_directory(POLICIES)
MEMBERS_READ_MEMBERS = (
    '    "read_members" if "auditor";\n',
    '    "read_members" if "auditor";\n    "read_members" if "member";\n',
)
BOARD_RULE = (
    'release_blocker(agreement: Agreement, "board_approval") if\n'
    '    "regulated" in agreement.dataset.labels;\n'
)


def body(
    files: dict[str, str] | None = None,
    tests: dict[str, str] | None = None,
    *,
    main: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The repository bundle with ``files`` added and main.polar edited by ``main``."""
    merged = {**REPO.files, **(files or {})}
    if main is not None:
        assert main[0] in merged["main.polar"]
        merged["main.polar"] = merged["main.polar"].replace(*main)
    return {"files": merged, "tests": {**REPO.tests, **(tests or {})}}


def _events(components: Components, action: str) -> list[AuditEvent]:
    with log_session(components) as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        return list(session.scalars(query))


class Acme:
    """Acme (strategic) and its partner Globex; an acme member, steward and admin."""

    def __init__(self, eco: Ecosystem) -> None:
        eco.org("acme", "strategic")
        eco.org("globex", "strategic")
        eco.partnership("acme", "globex")
        self.member = eco.principal("acme", "member")
        self.steward = eco.principal("acme", "steward")
        self.admin = eco.principal("acme", "admin")
        self.operator = eco.operator

    def agreement(self, dataset: str, required: int) -> dict[str, Any]:
        response = self.steward.post(
            f"/v1/datasets/{dataset}/agreements",
            json={
                "beneficiary": "globex",
                "purpose": "planning",
                "approvals": {"required": required, "from": ["owner:steward"]},
            },
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def approve(self, agreement: dict[str, Any]) -> dict[str, Any]:
        url = f"/v1/agreements/{agreement['id']}/approvals"
        response = self.steward.post(url, json={"decision": "approve"})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def members_listing(self) -> int:
        return int(self.member.get("/v1/orgs/acme/service-accounts").status_code)


@pytest.fixture
def acme(eco: Ecosystem) -> Acme:
    return Acme(eco)


def upload(operator: Caller, payload: dict[str, Any]) -> dict[str, Any]:
    response = operator.post("/v1/policies", json=payload)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_the_deployment_bundle_is_the_first_active_version(
    operator: Caller, components: Components
) -> None:
    active = operator.get("/v1/policies/active").json()
    assert active["sha256"] == REPO.sha256 == components.policy.version
    assert active["state"] == "active" and active["author"] is None
    assert active["files"] == REPO.files and active["tests"] == REPO.tests
    listed = operator.get("/v1/policies").json()["items"]
    assert [b["id"] for b in listed] == [active["id"]] and "main.polar" in listed[0]["files"]
    assert operator.get(f"/v1/policies/{active['id']}").json()["sha256"] == REPO.sha256
    (seeded,) = _events(components, "policy.activate")
    assert seeded.actor_id is None and seeded.policy_version == REPO.sha256


def test_only_operators_manage_policies(acme: Acme, components: Components) -> None:
    bundle_id = acme.operator.get("/v1/policies/active").json()["id"]
    for method, url in [
        ("POST", "/v1/policies"),
        ("GET", "/v1/policies"),
        ("GET", "/v1/policies/active"),
        ("GET", f"/v1/policies/{bundle_id}"),
        ("POST", f"/v1/policies/{bundle_id}/impact"),
        ("POST", f"/v1/policies/{bundle_id}/activate"),
    ]:
        payload = body() if url == "/v1/policies" else {"limit": 5} if "impact" in url else None
        response = acme.admin.request(method, url, json=payload)
        assert response.status_code == 403, (url, response.text)
    denials = [e for e in _events(components, "manage_policies") if e.outcome == "denied"]
    assert len(denials) == 6 and all(e.policy_version == REPO.sha256 for e in denials)


def test_polar_that_does_not_load_is_refused_with_polars_message(
    operator: Caller, components: Components
) -> None:
    broken = body({"orgs/acme.polar": "release_blocker(a: Agreement, ) if;\n"})
    response = operator.post("/v1/policies", json=broken)
    assert response.status_code == 422
    assert "does not load" in response.json()["detail"]
    assert "orgs/acme.polar" in response.json()["detail"]
    (failed,) = [e for e in _events(components, "policy.upload") if e.outcome == "failed"]
    assert failed.reason == "invalid_bundle" and failed.policy_version == REPO.sha256


def test_failing_cases_are_refused_and_listed(operator: Caller) -> None:
    own = body(
        tests={
            "mine.yaml": "- name: auditors shred\n  actor: {org: acme, roles: [auditor]}"
            "\n  action: shred\n  resource: {type: Dataset, owner: acme}\n"
            "  expect: allow\n"
        }
    )
    response = operator.post("/v1/policies", json=own)
    assert response.status_code == 422
    assert response.json()["failures"] == [
        {
            "suite": "bundle:mine.yaml",
            "case": "auditors shred",
            "message": "expected allow for shred",
        }
    ]
    # The repository's cases bind every candidate: operators must never download.
    widened = body(
        {
            "widen.polar": 'has_permission(actor: Principal, "download", _: Dataset)'
            " if actor.is_operator;\n"
        }
    )
    widened["tests"] = {}  # the candidate's own cases cannot stand in for the repository's
    response = operator.post("/v1/policies", json=widened)
    assert response.status_code == 422, response.text
    failures = response.json()["failures"]
    assert {f["suite"] for f in failures} == {"policies/tests/platform.yaml"}
    assert "operators cannot read or download escrowed data" in {f["case"] for f in failures}


def test_bundle_shape_and_size_limits(operator: Caller) -> None:
    huge = body({"orgs/acme.polar": "# padding\n" * 60_000})
    assert operator.post("/v1/policies", json=huge).status_code == 413
    for bad in ({"../escape.polar": ""}, {"orgs/acme.txt": ""}):
        response = operator.post("/v1/policies", json=body(bad))
        assert response.status_code == 422 and response.json()["invalid"], response.text
    missing = {"files": {"other.polar": ""}, "tests": {}}
    assert operator.post("/v1/policies", json=missing).status_code == 422
    same = operator.post("/v1/policies", json=body())
    assert same.status_code == 409 and same.json()["bundle_id"]


def test_impact_lists_flipped_decisions_and_changed_releases(acme: Acme) -> None:
    released = acme.approve(
        acme.agreement(create_dataset(acme.steward, "one", labels=["regulated"])["id"], 1)
    )
    assert released["state"] == "released"
    pending = acme.agreement(create_dataset(acme.steward, "two", labels=["regulated"])["id"], 2)
    candidate = upload(
        acme.operator, body({"orgs/acme.polar": BOARD_RULE}, main=MEMBERS_READ_MEMBERS)
    )
    assert candidate["state"] == "candidate" and candidate["author"] == acme.operator.id
    assert acme.members_listing() == 403  # audited (queued, just now): denied read_members

    report = acme.operator.post(f"/v1/policies/{candidate['id']}/impact", json={"limit": 200})
    assert report.status_code == 200, report.text
    impact = report.json()
    assert impact["candidate"] == candidate["sha256"] and impact["active"] == REPO.sha256
    assert impact["replayed"] > 10 and impact["pending_checked"] == 1
    listing, release = sorted(impact["flips"], key=lambda f: f["action"])
    assert listing["action"] == listing["event"] == "read_members"
    assert listing["actor"] == acme.member.id and listing["resource"]["type"] == "organization"
    assert (listing["recorded"], listing["active"], listing["candidate"]) == (
        "denied",
        "denied",
        "allowed",
    )
    assert release["action"] == "release" and release["resource"]["id"] == released["id"]
    assert (release["recorded"], release["active"], release["candidate"]) == (
        "released",
        "released",
        "blocked",
    )
    (change,) = impact["releases"]
    assert change["agreement_id"] == pending["id"]
    assert change["active_blockers"] == ["approvals"]
    assert change["candidate_blockers"] == ["acme:board_approval", "approvals"]


def test_activation_applies_at_once_everywhere_and_rollback_restores(
    acme: Acme, components: Components
) -> None:
    seed = acme.operator.get("/v1/policies/active").json()
    replica = PolicyStore(
        components.db,
        components.audit,
        components.clock,
        components.new_id,
        POLICIES,
        reload_seconds=0,
    )
    assert replica.version == REPO.sha256 and acme.members_listing() == 403
    candidate = upload(
        acme.operator, body({"orgs/acme.polar": BOARD_RULE}, main=MEMBERS_READ_MEMBERS)
    )

    activated = acme.operator.post(f"/v1/policies/{candidate['id']}/activate")
    assert activated.status_code == 200 and activated.json()["state"] == "active"
    assert acme.members_listing() == 200  # this process: at once, no restart
    held = acme.approve(acme.agreement(create_dataset(acme.steward, labels=["regulated"])["id"], 1))
    held = acme.steward.get(f"/v1/agreements/{held['id']}").json()
    assert held["state"] == "pending" and held["blockers"] == ["acme:board_approval"]
    assert replica.refresh() and replica.version == candidate["sha256"]  # another process
    states = {b["id"]: b["state"] for b in acme.operator.get("/v1/policies").json()["items"]}
    assert states == {seed["id"]: "retired", candidate["id"]: "active"}
    again = acme.operator.post(f"/v1/policies/{candidate['id']}/activate")
    assert again.status_code == 409

    rollback = acme.operator.post(f"/v1/policies/{seed['id']}/activate")
    assert rollback.status_code == 200 and acme.members_listing() == 403
    assert components.policy.version == REPO.sha256
    assert replica.refresh() and replica.version == REPO.sha256
    assert not replica.refresh()  # the cheap check finds nothing new
    released = acme.steward.post(f"/v1/agreements/{held['id']}/release")
    assert released.status_code == 200 and released.json()["state"] == "released"
    activations = _events(components, "policy.activate")
    assert [e.outcome for e in activations] == ["success"] * 3
    assert [e.policy_version for e in activations[1:]] == [REPO.sha256, candidate["sha256"]]


def test_a_hostile_org_file_widens_nothing_once_active(
    acme: Acme, eco: Ecosystem, components: Components
) -> None:
    eco.org("initech", "strategic")
    outsider = eco.principal("initech", "admin")
    partner = eco.principal("globex", "member")
    dataset = create_dataset(acme.steward)["id"]
    assert deposit(acme.steward, dataset, b"a,b\n1,2\n").status_code == 201
    hostile = upload(
        acme.operator,
        body(
            {
                "orgs/acme.polar": HOSTILE,
                "orgs/initech.polar": HOSTILE,
                "orgs/globex.polar": MEDDLING,
            }
        ),
    )
    assert acme.operator.post(f"/v1/policies/{hostile['id']}/activate").status_code == 200
    assert components.policy.version == hostile["sha256"]

    content = f"/v1/datasets/{dataset}/versions/1/content"
    for caller in (outsider, partner):
        assert caller.get(f"/v1/datasets/{dataset}").status_code == 404
        assert caller.get(content).status_code == 404
    assert acme.operator.get(content).status_code == 404  # as for anyone never granted it
    assert acme.member.post(f"/v1/datasets/{dataset}/withdraw").status_code == 403
    assert outsider.get("/v1/orgs/acme/service-accounts").status_code == 404
    # Release still needs what the platform rules need, and globex's file cannot stop it.
    agreement = acme.agreement(dataset, 1)
    assert agreement["blockers"] == ["approvals"]
    assert acme.approve(agreement)["state"] == "released"
    assert partner.get(content).status_code == 200
    assert outsider.get(content).status_code == 404
