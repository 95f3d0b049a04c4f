"""Rate-limit buckets: one contract for both stores, and the shared one across replicas."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from threading import Barrier

import pytest
from sqlalchemy import func, select

from escrow.auth.buckets import (
    BucketStore,
    Charge,
    LocalBuckets,
    SharedBuckets,
    forget_full_buckets,
)
from escrow.auth.failures import BearerFailures
from escrow.auth.rate_limit import Attempt, Refusal, TokenRateLimits
from escrow.clock import FrozenClock
from escrow.settings import BearerFailureSettings, Rate, TokenRateSettings
from storage.db import Database
from storage.models import RateBucket

ONE_A_SECOND = Rate(per_minute=60, burst=3)
SLOW = Rate(per_minute=6, burst=2)  # one every 10 s
T0 = 1_800_000_000.0


@pytest.fixture(params=["local", "shared"])
def store(request: pytest.FixtureRequest, db: Database) -> BucketStore:
    return LocalBuckets() if request.param == "local" else SharedBuckets(db)


def _charge(subject: str = "192.0.2.1", rate: Rate = ONE_A_SECOND) -> Charge:
    return Charge("address", rate, subject)


def test_a_burst_then_one_token_per_refill(store: BucketStore) -> None:
    for _ in range(3):
        assert store.admit([_charge()], T0) is None
    wait = store.admit([_charge()], T0)
    assert wait is not None and wait.seconds == pytest.approx(1.0)
    assert wait.charge == _charge()
    assert store.admit([_charge()], T0 + 0.5) is not None
    assert store.admit([_charge()], T0 + 1.0) is None  # refilled one
    assert store.admit([_charge("192.0.2.2")], T0) is None  # subjects are independent


def test_admit_takes_from_every_bucket_or_from_none(store: BucketStore) -> None:
    slow = Charge("key_failures", SLOW, "pek_1")
    for _ in range(2):
        assert store.admit([_charge(), slow], T0) is None
    wait = store.admit([_charge(), slow], T0)
    assert wait is not None and wait.charge == slow and wait.seconds == pytest.approx(10.0)
    # The refused attempt took nothing from the address bucket: it still has one token.
    assert store.admit([_charge()], T0) is None
    assert store.admit([_charge()], T0) is not None


def test_a_charge_takes_even_from_an_empty_bucket(store: BucketStore) -> None:
    waits = [store.charge(_charge(rate=SLOW), T0) for _ in range(4)]
    assert waits == pytest.approx([0.0, 10.0, 20.0, 30.0])  # each failure pushes it further


def test_given_back_tokens_never_exceed_the_burst(store: BucketStore) -> None:
    store.give_back([_charge()], T0)  # a full bucket stays full
    for _ in range(3):
        assert store.admit([_charge()], T0) is None
    assert store.admit([_charge()], T0) is not None
    store.give_back([_charge()], T0)
    assert store.admit([_charge()], T0) is None


def test_replicas_draw_on_one_bucket(db: Database) -> None:
    first, second = SharedBuckets(db), SharedBuckets(db)
    assert first.admit([_charge()], T0) is None
    assert second.admit([_charge()], T0) is None
    assert first.admit([_charge()], T0) is None
    assert second.admit([_charge()], T0) is not None  # the burst of 3 is spent across them


def test_concurrent_admissions_never_overdraw(db: Database) -> None:
    charges = [_charge(), Charge("key_failures", ONE_A_SECOND, "pek_1")]
    barrier = Barrier(8)

    def ask(_: int) -> bool:
        replica = SharedBuckets(db)  # each thread its own store, as each replica has
        barrier.wait()
        return replica.admit(list(reversed(charges)) if _ % 2 else charges, T0) is None

    with ThreadPoolExecutor(8) as pool:
        admitted = list(pool.map(ask, range(8)))
    assert admitted.count(True) == 3, admitted


def test_refilled_rows_are_deleted_and_the_others_kept(db: Database) -> None:
    store = SharedBuckets(db)
    store.admit([_charge("192.0.2.1")], T0)  # full again 1 s later
    store.charge(_charge("192.0.2.2", SLOW), T0)  # full again 10 s later
    assert forget_full_buckets(db, datetime.fromtimestamp(T0 + 5, UTC)) == 1
    with db.session() as session:
        assert session.scalars(select(RateBucket.subject)).all() == ["192.0.2.2"]
    assert forget_full_buckets(db, datetime.fromtimestamp(T0 + 10, UTC)) == 1
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(RateBucket)) == 0


def test_local_buckets_are_bounded_and_forget_full_ones() -> None:
    store = LocalBuckets(capacity=5)
    for i in range(20):  # an attacker spraying subjects
        store.charge(_charge(f"pek_{i}"), T0)
    assert store.tracked("address") == 5  # the least recently charged were dropped
    store.give_back([_charge(f"pek_{i}") for i in range(15, 20)], T0)  # full: forgotten
    assert store.tracked("address") == 0


# Both limits built on the buckets, as two replicas of one cluster hold them.

TOKEN_LIMITS = TokenRateSettings(
    enabled=True, per_ip=Rate(60, 20), failures_per_ip=Rate(6, 4), failures_per_key=Rate(12, 6)
)


def _fail(limits: TokenRateLimits, address: str) -> Refusal | None:
    attempt = limits.admit("pek_target", address)
    if isinstance(attempt, Refusal):
        return attempt
    assert isinstance(attempt, Attempt)
    return None  # not forgiven: a failure stays charged


def test_token_failure_limit_holds_across_replicas(db: Database, clock: FrozenClock) -> None:
    first, second = (TokenRateLimits(TOKEN_LIMITS, clock, SharedBuckets(db)) for _ in range(2))
    for limits in (first, second, first, second):  # the address's failure burst is 4
        assert _fail(limits, "198.51.100.7") is None
    refusal = _fail(second, "198.51.100.7")
    assert refusal is not None and refusal.limit == "address_failures"
    assert _fail(first, "198.51.100.7") is not None


def test_bearer_failures_limited_through_one_replica_are_refused_by_another(
    db: Database, clock: FrozenClock
) -> None:
    settings = BearerFailureSettings(True, Rate(per_minute=6, burst=3), 60)
    first, second = (BearerFailures(settings, clock, SharedBuckets(db)) for _ in range(2))
    first.failed("203.0.113.5", "invalid")
    first.failed("203.0.113.5", "invalid")
    assert second.retry_after("203.0.113.5") is None  # not over the limit yet
    second.failed("203.0.113.5", "invalid")  # the third failure empties the shared bucket
    assert second.retry_after("203.0.113.5") == 10
    assert first.retry_after("203.0.113.5") is None  # it has not seen the address since
    first.failed("203.0.113.5", "invalid")  # its first failure there finds the bucket empty
    assert first.retry_after("203.0.113.5") == 20
    clock.advance(seconds=20)
    assert first.retry_after("203.0.113.5") is None
    assert second.retry_after("203.0.113.5") is None
