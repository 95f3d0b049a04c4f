"""The whole-attempt deadline: a step that cannot be interrupted (a name lookup) is waited
for only until the deadline, and a spent deadline refuses every further socket step."""

from __future__ import annotations

import threading
import time

import httpcore
import pytest

from escrow.webhooks.deadline import Deadline, DeadlineExceededError


def test_a_blocking_step_is_abandoned_at_the_deadline() -> None:
    released = threading.Event()
    began = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        Deadline(0.2).call(lambda: released.wait(30))
    assert time.monotonic() - began < 1.5
    released.set()  # lets the abandoned thread finish


def test_a_step_within_the_deadline_gives_its_result_or_its_error() -> None:
    assert Deadline(5).call(lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        Deadline(5).call(lambda: 1 // 0)


def test_a_spent_deadline_refuses_with_the_step_s_timeout() -> None:
    spent = Deadline(0)
    with pytest.raises(httpcore.ReadTimeout):
        spent.bound(10, httpcore.ReadTimeout)
    with pytest.raises(httpcore.ConnectTimeout):
        spent.bound(None, httpcore.ConnectTimeout)
    assert 0 < Deadline(5).bound(1, httpcore.ReadTimeout) <= 1
    assert 1 < Deadline(5).bound(None, httpcore.ReadTimeout) <= 5
