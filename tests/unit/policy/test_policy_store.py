"""PolicyStore: the active bundle from the database, seeded once, reloaded on change."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from escrow.components import Components
from escrow.config import load_settings
from escrow.errors import ConfigError
from escrow.policy.engine import PolicyBundle, PolicyLoadError
from escrow.policy.store import PolicyStore
from storage.models import AuditEvent, PolicyBundleRow
from tests.fixtures.audit import log_session

POLICIES = Path(__file__).resolve().parents[3] / "policies"
REPO = PolicyBundle.from_directory(POLICIES)


def _replica(components: Components) -> PolicyStore:
    """Another process on the same database."""
    return PolicyStore(
        components.db, components.audit, components.clock, components.new_id, POLICIES, 0
    )


def _rows(components: Components) -> list[PolicyBundleRow]:
    with components.db.session() as session:
        return list(session.scalars(select(PolicyBundleRow)))


def test_before_start_the_deployment_bundle_is_served_without_writing(
    components: Components,
) -> None:
    assert components.policy.version == REPO.sha256
    assert _rows(components) == []


def test_start_seeds_the_deployment_bundle_once_and_audits_it(components: Components) -> None:
    components.policy.start()
    _replica(components).start()
    (row,) = _rows(components)
    assert (row.sha256, row.state, row.author_id) == (REPO.sha256, "active", None)
    assert row.files == REPO.files and row.tests == REPO.tests
    with log_session(components) as session:
        (event,) = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "policy.activate")
        ).all()
    assert event.policy_version == REPO.sha256 and event.resource_id == row.id
    assert not components.policy.refresh()  # the cheap check: nothing changed


def test_a_stored_bundle_that_does_not_match_its_hash_is_refused(
    components: Components,
) -> None:
    components.policy.start()
    tampered = {**REPO.files, "main.polar": REPO.files["main.polar"] + "\n# changed\n"}
    with components.db.session() as session:
        session.execute(update(PolicyBundleRow).values(state="retired"))
        session.add(
            PolicyBundleRow(
                id="tampered",
                sha256="0" * 64,
                files=tampered,
                tests={},
                state="active",
                created_at=components.clock.now(),
            )
        )
        session.commit()
    with pytest.raises(PolicyLoadError, match="does not match its SHA-256"):
        components.policy.refresh()
    assert components.policy.version == REPO.sha256  # keeps serving what it had
    fresh = _replica(components)
    fresh.start()  # logged, not raised: the process starts...
    with pytest.raises(PolicyLoadError):  # ...but decides nothing until a valid one is active
        _ = fresh.version


def test_the_reload_interval_is_a_setting() -> None:
    assert load_settings({}).policy_reload_seconds == 2
    assert load_settings({"ESCROW_POLICY_RELOAD_SECONDS": "0"}).policy_reload_seconds == 0
    with pytest.raises(ConfigError, match="ESCROW_POLICY_RELOAD_SECONDS"):
        load_settings({"ESCROW_POLICY_RELOAD_SECONDS": "-1"})
