"""Decisions asked on many threads at once: every answer the one the engine gives on a
single thread (the engine serialises its Polar queries: see benchmarks/README.md, Authorization,
for why that is faster than a copy of the bundle per thread)."""

from __future__ import annotations

import itertools
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

from escrow.context import Actor
from escrow.policy.engine import PolicyEngine
from escrow.policy.resources import DatasetResource, OrgResource

POLICIES = Path(__file__).resolve().parents[3] / "policies"
THREADS = 8
ORGS = [OrgResource(f"o-{slug}", slug, "active", "core") for slug in ("acme", "globex", "initech")]
ROLES = [("member",), ("steward",), ("admin",), ("auditor",), ("member", "steward")]
ACTIONS = ["read", "download", "deposit", "shred", "withdraw", "manage_agreements"]


def _questions(count: int) -> list[tuple[Actor, str, DatasetResource]]:
    rng = random.Random(7)
    questions = []
    for i in range(count):
        org = rng.choice(ORGS)
        actor = Actor(f"p-{i}", org.id, org.slug, rng.choice(ROLES), rng.random() > 0.1)
        owner = rng.choice(ORGS)
        released = tuple(o.id for o in ORGS if o is not owner and rng.random() > 0.5)
        status = rng.choice(["active", "active", "withdrawn"])
        dataset = DatasetResource(f"d-{i}", owner, (), status, released)
        questions.append((actor, rng.choice(ACTIONS), dataset))
    return questions


def test_decisions_on_many_threads_equal_the_single_threaded_answers() -> None:
    questions = _questions(400)  # distinct questions: none is answered from memory
    alone = PolicyEngine.from_directory(POLICIES)
    expected = [alone.decide(*question).allowed for question in questions]
    assert 0 < sum(expected) < len(expected)  # the corpus has both answers

    shared = PolicyEngine.from_directory(POLICIES)
    barrier = Barrier(THREADS)
    slices = [questions[i::THREADS] for i in range(THREADS)]

    def ask(part: list[tuple[Actor, str, DatasetResource]]) -> list[bool]:
        barrier.wait()
        return [shared.decide(*question).allowed for question in part]

    with ThreadPoolExecutor(THREADS) as pool:
        answers = list(pool.map(ask, slices))
    by_question = dict(zip(itertools.chain(*slices), itertools.chain(*answers), strict=True))
    assert [by_question[question] for question in questions] == expected


def test_explanations_and_decisions_interleave() -> None:
    engine = PolicyEngine.from_directory(POLICIES)
    actor, action, dataset = _questions(1)[0]
    expected = engine.explain(actor, action, dataset).allowed
    barrier = Barrier(4)

    def explain(_: int) -> bool:
        barrier.wait()
        return all(engine.explain(actor, action, dataset).allowed == expected for _ in range(20))

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(explain, range(4)))
