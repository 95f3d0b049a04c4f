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
from collections.abc import Callable, Mapping
from typing import Any


class BudgetExceededError(Exception):
    """The checks did not finish within their time budget; the child was killed."""


class ChildFailedError(Exception):
    """The child ended without an answer."""


def answer_within(seconds: float, module: str, request: Mapping[str, Any]) -> Any:
    """Runs ``python -m module`` with ``request`` as JSON on its stdin and returns the JSON it
    writes (see ``serve_one``); fails closed past ``seconds``."""
    child = subprocess.Popen(  # noqa: S603 - this interpreter running one of our modules
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    with child:
        try:
            out, _ = child.communicate(json.dumps(request).encode(), timeout=seconds)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            raise BudgetExceededError(f"not finished within {seconds:g} s") from None
    if child.returncode != 0:
        raise ChildFailedError(f"{module} ended with code {child.returncode}")
    return json.loads(out)


def serve_one(work: Callable[[Any], Any]) -> None:
    """The child's side of ``answer_within``: one request from stdin, its answer to stdout."""
    answer_to = sys.stdout
    sys.stdout = sys.stderr  # whatever the work prints (Polar does) must not mix into the answer
    json.dump(work(json.load(sys.stdin)), answer_to)
    answer_to.flush()
