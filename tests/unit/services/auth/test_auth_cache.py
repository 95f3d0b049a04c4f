"""Token owners remembered per process, forgotten when the auth epoch moves (escrow.auth.cache).

Each test uses its own cache, polled by hand: the app's own poller runs in the background."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from escrow.auth.cache import AuthCache
from escrow.auth.service import remembered_owner
from escrow.components import Components
from escrow.context import Actor, RequestContext
from escrow.errors import AuthenticationError
from storage.db import Database
from storage.models import ApiKey, AuthEpoch, Organization, Principal
from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.database import statements


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks() -> Clock:
    return Clock()


@pytest.fixture
def mine(components: Components, ticks: Clock) -> Components:
    """The components with a cache of the test's own, on a clock of its own."""
    cache = AuthCache(monotonic=ticks)
    cache.forget_on_commit(components.db.sessionmaker)
    authentication = dataclasses.replace(components.authentication, owners=cache)
    return dataclasses.replace(components, authentication=authentication)


@pytest.fixture
def elsewhere(components: Components) -> Iterator[Database]:
    """The same database through sessions of its own, as another process has them."""
    other = Database(components.settings.database_url)
    yield other
    other.dispose()


def epoch(db: Database) -> int:
    with db.session() as session:
        return session.execute(select(AuthEpoch.value)).scalar_one()


def poll(components: Components) -> None:
    with components.db.session() as session:
        components.authentication.owners.poll(session)


def authenticate(components: Components, token: str) -> Actor:
    with components.authentication.unit_of_work(RequestContext("r")) as auth:
        return auth.authenticate(token)


def remembered(components: Components, caller: Caller) -> Actor | None:
    return remembered_owner(
        caller.token,
        None,
        components.authentication.tokens,
        components.authentication.owners,
        components.authentication.failures,
        components.clock,
    )


CHANGES: dict[str, Callable[[Ecosystem, Caller], object]] = {
    "revoke the token": lambda eco, c: c.post("/v1/auth/revoke", json={"token": c.token}),
    "revoke the key": lambda eco, c: eco.admin_of("acme").delete(
        f"/v1/orgs/acme/service-accounts/{c.id}/keys/{c.key_id}"
    ),
    "suspend the account": lambda eco, c: eco.admin_of("acme").post(
        f"/v1/orgs/acme/service-accounts/{c.id}/suspend"
    ),
    "change its roles": lambda eco, c: eco.admin_of("acme").patch(
        f"/v1/orgs/acme/service-accounts/{c.id}", json={"roles": ["member"]}
    ),
    "suspend the org": lambda eco, c: eco.operator.post("/v1/orgs/acme/suspend"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_change_to_a_tokens_owner_moves_the_epoch(
    eco: Ecosystem, components: Components, change: str
) -> None:
    eco.org("acme")
    caller = eco.principal("acme", "steward")
    before = epoch(components.db)
    answer = CHANGES[change](eco, caller)
    assert answer.status_code < 300, answer.text  # type: ignore[attr-defined]
    assert epoch(components.db) > before


def test_a_token_exchange_does_not_move_the_epoch(eco: Ecosystem, components: Components) -> None:
    eco.org("acme")
    caller = eco.principal("acme", "steward")
    before = epoch(components.db)
    exchanged = caller.client.post(
        "/v1/auth/token", json={"key_id": caller.key_id, "secret": caller.secret}
    )
    assert exchanged.status_code == 200  # it wrote the key's last_used_at
    with components.db.session() as session:
        assert session.get(ApiKey, caller.key_id).last_used_at is not None  # type: ignore[union-attr]
    assert epoch(components.db) == before


def test_the_embedded_database_moves_the_epoch_too(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'escrow.db'}")
    try:
        db.upgrade()
        with db.session() as session:
            session.execute(
                text(
                    "INSERT INTO organizations (id, slug, name, tier, status, created_at, "
                    "updated_at) VALUES ('o', 'acme', 'Acme', 'core', 'active', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            session.commit()
            assert epoch(db) == 0  # an insert of an org changes no token's owner
            session.execute(update(Organization).values(name="Acme Inc."))
            session.commit()
            assert epoch(db) == 0
            session.execute(update(Organization).values(status="suspended"))
            session.commit()
        assert epoch(db) == 1
    finally:
        db.dispose()


def test_a_remembered_owner_needs_no_database_and_goes_when_the_epoch_moves(
    eco: Ecosystem, mine: Components, elsewhere: Database
) -> None:
    eco.org("acme")
    caller = eco.principal("acme", "steward")
    assert remembered(mine, caller) is None  # the epoch was never read
    poll(mine)
    actor = authenticate(mine, caller.token)
    with statements(mine) as sent:
        assert remembered(mine, caller) == actor
    assert sent == []
    with elsewhere.session() as session:  # another process suspends the account
        session.execute(update(Principal).where(Principal.id == caller.id).values(status="x"))
        session.commit()
    assert remembered(mine, caller) == actor  # until this process reads the epoch
    poll(mine)
    assert remembered(mine, caller) is None
    with pytest.raises(AuthenticationError) as refused:
        authenticate(mine, caller.token)
    assert refused.value.extra["reason"] == "invalid"  # removed_principal, not explained


def test_a_change_committed_in_this_process_is_forgotten_at_once(
    eco: Ecosystem, mine: Components
) -> None:
    eco.org("acme")
    caller = eco.principal("acme", "steward")
    poll(mine)
    authenticate(mine, caller.token)
    assert remembered(mine, caller) is not None
    revoked = eco.admin_of("acme").delete(
        f"/v1/orgs/acme/service-accounts/{caller.id}/keys/{caller.key_id}"
    )
    assert revoked.status_code == 204
    assert remembered(mine, caller) is None  # no poll needed


def test_nothing_is_served_once_the_epoch_was_not_read_for_a_second(
    eco: Ecosystem, mine: Components, ticks: Clock
) -> None:
    eco.org("acme")
    caller = eco.principal("acme", "steward")
    poll(mine)
    authenticate(mine, caller.token)
    ticks.now += 1.0
    assert remembered(mine, caller) is not None
    ticks.now += 0.01  # the poller stalled: the cache may be a second late, no more
    assert remembered(mine, caller) is None
    poll(mine)  # unchanged: what was remembered is served again
    assert remembered(mine, caller) is not None


def test_an_owner_read_under_an_older_epoch_is_not_remembered(
    eco: Ecosystem, mine: Components, elsewhere: Database
) -> None:
    eco.org("acme")
    caller = eco.principal("acme", "steward")
    poll(mine)
    read_under = mine.authentication.owners.stamp()
    with elsewhere.session() as session:  # a change lands between the epoch and the owner
        session.execute(update(Principal).where(Principal.id == caller.id).values(roles=[]))
        session.commit()
    poll(mine)
    actor = authenticate(mine, caller.token)
    mine.authentication.owners.put("another", actor, read_under, None)
    assert mine.authentication.owners.get("another", mine.clock.now()) is None
    assert remembered(mine, caller) == actor  # read under the current epoch
    assert actor.roles == ()


def test_a_key_past_its_expiry_is_not_served_from_memory(eco: Ecosystem, mine: Components) -> None:
    eco.org("acme")
    caller = eco.principal("acme", "steward")
    poll(mine)
    actor = authenticate(mine, caller.token)
    now = mine.clock.now()
    mine.authentication.owners.put(
        "t", actor, mine.authentication.owners.stamp(), now + timedelta(seconds=5)
    )
    assert mine.authentication.owners.get("t", now + timedelta(seconds=4)) == actor
    assert mine.authentication.owners.get("t", now + timedelta(seconds=5)) is None


def test_a_missing_epoch_row_turns_the_cache_off(eco: Ecosystem, mine: Components) -> None:
    eco.org("acme")
    caller = eco.principal("acme", "steward")
    poll(mine)
    authenticate(mine, caller.token)
    with mine.db.session() as session:
        session.execute(text("DELETE FROM auth_epoch"))
        session.commit()
    poll(mine)
    assert mine.authentication.owners.stamp() is None
    assert remembered(mine, caller) is None
    authenticate(mine, caller.token)  # the database still answers
    assert len(mine.authentication.owners) == 0


def test_an_owner_read_before_a_change_this_process_committed_is_not_remembered(
    eco: Ecosystem, mine: Components
) -> None:
    eco.org("acme")
    caller = eco.principal("acme", "steward")
    poll(mine)
    stamp = mine.authentication.owners.stamp()  # a request takes its stamp, reads the owner...
    actor = authenticate(mine, caller.token)
    revoked = eco.admin_of("acme").delete(  # ...while this process commits a revocation
        f"/v1/orgs/acme/service-accounts/{caller.id}/keys/{caller.key_id}"
    )
    assert revoked.status_code == 204
    assert actor.token_id is not None
    mine.authentication.owners.put(actor.token_id, actor, stamp, None)  # the epoch is not read yet
    assert remembered(mine, caller) is None
