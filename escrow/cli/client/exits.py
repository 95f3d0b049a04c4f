"""Exit codes of the client commands, and the one error type that carries them.

Every failure a command can foresee becomes a ``CliError``: click prints it (as problem
JSON on stderr under ``--json``) and exits with its code, so scripts branch on the code
rather than on the wording.
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Any

import click

PROBLEM_BASE = "https://partner-escrow.dev/problems/"  # the server's problem type URIs


class ExitCode(IntEnum):
    OK = 0
    UNEXPECTED = 1  # a bug, or a server answer the client does not understand
    USAGE = 2  # bad arguments or input, also when the server refuses them (400, 413, 422)
    AUTH = 3  # not logged in, or the credentials were refused (401)
    NOT_FOUND = 4  # no such resource, or it is gone (404, 410)
    CONFLICT = 5  # the resource's state forbids it (409, 412)
    DENIED = 6  # the policy does not allow it (403)
    UNAVAILABLE = 7  # the server cannot be reached, is overloaded or failed (429, 5xx)
    INTEGRITY = 8  # received bytes or an audit bundle do not match what was signed


_BY_STATUS = {
    400: ExitCode.USAGE,
    401: ExitCode.AUTH,
    403: ExitCode.DENIED,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.CONFLICT,
    410: ExitCode.NOT_FOUND,
    412: ExitCode.CONFLICT,
    413: ExitCode.USAGE,
    415: ExitCode.USAGE,
    416: ExitCode.USAGE,
    422: ExitCode.USAGE,
    429: ExitCode.UNAVAILABLE,
}
_PLAIN = {"type", "title", "status", "detail", "instance", "request_id", "exit_code"}


def exit_code_for(status: int) -> ExitCode:
    if status >= 500:
        return ExitCode.UNAVAILABLE
    return _BY_STATUS.get(status, ExitCode.UNEXPECTED)


class CliError(click.ClickException):
    """A foreseen failure, as an RFC 9457 problem: the server's own, or one of ours."""

    def __init__(self, code: ExitCode, problem: dict[str, Any]) -> None:
        super().__init__(str(problem.get("detail") or problem.get("title") or "failed"))
        self.exit_code = int(code)  # type: ignore[misc] # click reads it from the instance
        self.problem = {**problem, "exit_code": int(code)}
        self.as_json = False  # set by the command wrapper, which knows the --json flag

    @classmethod
    def local(cls, code: ExitCode, slug: str, title: str, detail: str, **extra: Any) -> CliError:
        """A problem found on this side of the wire (see README, Command-line client)."""
        return cls(code, {"type": PROBLEM_BASE + slug, "title": title, "detail": detail, **extra})

    def format_message(self) -> str:
        title, detail = self.problem.get("title"), self.problem.get("detail")
        lines = [f"{title}: {detail}" if title and detail and title != detail else self.message]
        for key, value in self.problem.items():
            if key not in _PLAIN:
                shown = value if isinstance(value, str) else json.dumps(value)
                lines.append(f"  {key}: {shown}")
        if self.problem.get("request_id"):
            lines.append(f"  request id: {self.problem['request_id']}")
        return "\n".join(lines)

    def show(self, file: Any = None) -> None:
        if self.as_json:
            click.echo(json.dumps(self.problem), err=True)
        else:
            click.echo(f"Error: {self.format_message()}", err=True)


def usage_error(detail: str, **extra: Any) -> CliError:
    return CliError.local(ExitCode.USAGE, "usage", "Bad usage", detail, **extra)


def integrity_error(detail: str, **extra: Any) -> CliError:
    return CliError.local(
        ExitCode.INTEGRITY, "integrity-mismatch", "Integrity check failed", detail, **extra
    )
