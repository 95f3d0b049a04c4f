"""Two requests evaluate one agreement at once: each transition is recorded exactly once.

Found by the load benchmark (benchmarks/load.py): a partner's download refreshes the
agreements it depends on. If it read an agreement as pending just before an approval
committed, and the approval's decision just after, it released the agreement a second time
(a second `agreement.release` event and receipt). The test below makes that interleaving
happen on purpose: the approval is held just before its commit, and the download is held
inside its release evaluation (if it gets there at all) until the approval has committed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from escrow.agreements import lifecycle, queries
from escrow.audit import head
from escrow.components import Components
from storage.models import Agreement, AuditEvent
from tests.api.agreements.test_agreements import Deal
from tests.fixtures.api import Ecosystem
from tests.fixtures.audit import log_session

_WAIT = 10.0  # seconds; each wait is released by the test itself long before


@pytest.fixture
def deal(eco: Ecosystem) -> Deal:
    return Deal(eco)


class Gates:
    """Holds the approval before its commit and the download inside release evaluation."""

    def __init__(self) -> None:
        self.approval_held = threading.Event()
        self.commit = threading.Event()
        self.download_evaluating = threading.Event()
        self.evaluate = threading.Event()
        self.download_decided = threading.Event()  # evaluating, or refused and recording it
        self.armed = False

    def queue_events(self, real: Any) -> Any:
        """Once armed, the approval is parked before its commit, so whoever queues an audit
        event now is the download: it has decided and is recording it."""

        def noted(*args: Any, **options: Any) -> Any:
            if self.armed:
                self.download_decided.set()
            return real(*args, **options)

        return noted

    def before_commit(self, session: Session) -> None:
        releasing = any(isinstance(o, Agreement) and o.state == "released" for o in session.dirty)
        if releasing and not self.approval_held.is_set():
            self.approval_held.set()
            self.commit.wait(_WAIT)

    def agreement_resource(self, real: Any) -> Any:
        def gated(*args: Any) -> Any:
            if self.armed:  # the approval is held: this is the download
                self.download_evaluating.set()
                self.download_decided.set()
                self.evaluate.wait(_WAIT)
            return real(*args)

        return gated


@pytest.fixture
def gates(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gates]:
    gates = Gates()
    monkeypatch.setattr(
        lifecycle, "agreement_resource", gates.agreement_resource(queries.as_resource)
    )
    # Where the log queues a request's events (the download's refusal among them).
    monkeypatch.setattr(
        "escrow.audit.integrator.queue_events", gates.queue_events(head.queue_events)
    )
    event.listen(Session, "before_commit", gates.before_commit)
    yield gates
    event.remove(Session, "before_commit", gates.before_commit)


def _in_thread(call: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(call()))
    thread.start()
    return thread, out


def test_a_download_during_an_approval_does_not_release_the_agreement_again(
    deal: Deal, gates: Gates, components: Components
) -> None:
    agreement = deal.propose()
    approval, approved = _in_thread(
        lambda: deal.steward.post(
            f"/v1/agreements/{agreement['id']}/approvals", json={"decision": "approve"}
        )
    )
    assert gates.approval_held.wait(_WAIT)
    gates.armed = True
    download, downloaded = _in_thread(lambda: deal.content(deal.partner))
    # Without row locks the download now evaluates the release; with them it skips the
    # agreement the approval holds, is refused, and records the refusal. Either way the
    # approval commits only once the download has decided.
    assert gates.download_decided.wait(_WAIT)
    assert not gates.download_evaluating.is_set()
    gates.commit.set()
    approval.join(_WAIT)  # committed: its decision is now visible to the download
    gates.evaluate.set()
    download.join(_WAIT)

    assert approved[0].status_code == 201 and approved[0].json()["state"] == "released"
    # It decided while the agreement was still pending: refused, and the refusal is the
    # same 404 as for any dataset it was never granted.
    assert downloaded[0].status_code == 404, downloaded[0].text
    with log_session(components) as session:
        releases = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "agreement.release")
        )
    assert releases == 1
    assert deal.content(deal.partner).status_code == 200
