"""Running a candidate policy's checks in a child process that is killed when its time is up.

Polar evaluates a rule inside its native VM and only gives up after its own 30 s query
timeout, so a rule that backtracks would hold a request thread (and a CPU) that long. The
checks of an uploaded bundle therefore run in a child interpreter with a short budget of
their own (``ESCROW_POLICY_VALIDATION_SECONDS``), and the child is killed when it runs out.
A fresh interpreter, not a fork: the server is multi-threaded. Bundle and answer cross the
pipe as JSON, so the child can hand back nothing but data.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

Problem = tuple[str, str, dict[str, Any]]  # detail, field, extra members of the 422


class BudgetExceededError(Exception):
    """The checks did not finish within their time budget; the child was killed."""


class ChildFailedError(Exception):
    """The child ended without an answer."""


def problem_within(
    seconds: float,
    files: Mapping[str, str],
    tests: Mapping[str, str],
    repo_tests: Mapping[str, str],
) -> Problem | None:
    """``validation.candidate_problem`` run in a child; fails closed past ``seconds``."""
    request = json.dumps(
        {"files": dict(files), "tests": dict(tests), "repo_tests": dict(repo_tests)}
    )
    child = subprocess.Popen(  # noqa: S603 - this interpreter running one of our modules
        [sys.executable, "-m", __name__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    with child:
        try:
            out, _ = child.communicate(request.encode(), timeout=seconds)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise BudgetExceededError(f"not finished within {seconds:g} s") from None
    if child.returncode != 0:
        raise ChildFailedError(f"policy checks ended with code {child.returncode}")
    answer = json.loads(out)["problem"]
    return None if answer is None else (answer[0], answer[1], answer[2])


def _main() -> None:
    from escrow.policy.validation import candidate_problem  # the child's work; cycle-free here

    answer_to = sys.stdout
    sys.stdout = sys.stderr  # whatever Polar prints must not mix into the answer
    request = json.load(sys.stdin)
    problem = candidate_problem(request["files"], request["tests"], request["repo_tests"])
    json.dump({"problem": problem}, answer_to)
    answer_to.flush()


if __name__ == "__main__":
    _main()
