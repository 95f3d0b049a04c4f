"""Every client command's ``--profile`` and ``--json``, and what it is handed: an Invocation."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
import msgspec

from escrow.cli.client.api import Client
from escrow.cli.client.exits import CliError, usage_error
from escrow.cli.client.models import PageOut
from escrow.cli.client.output import Output, page_footer, table
from escrow.cli.client.profiles import ProfileStore, config_dir

T = TypeVar("T")


profile_option = click.option(
    "--profile",
    "profile_name",
    envvar="ESCROW_PROFILE",
    metavar="NAME",
    help="Profile to use [env ESCROW_PROFILE; default: the one `escrow login` made default].",
)
json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON document on stdout (errors: problem JSON on stderr).",
)


class Invocation:
    """One run of a client command: its output mode, its profiles, and a Client on demand."""

    def __init__(self, profile_name: str | None, as_json: bool) -> None:
        self.profile_name = profile_name
        self.out = Output(as_json)
        self.store = ProfileStore(config_dir(os.environ))
        self._client: Client | None = None

    @property
    def as_json(self) -> bool:
        return self.out.as_json

    @property
    def client(self) -> Client:
        """The selected profile's client; exit code 3 if there is no such profile."""
        if self._client is None:
            self._client = Client(self.store.get(self.profile_name))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def client_command(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Adds ``--profile`` and ``--json``; calls ``fn(invocation, **params)``."""

    @profile_option
    @json_option
    @functools.wraps(fn)
    def command(*args: Any, profile_name: str | None, as_json: bool, **params: Any) -> Any:
        invocation = Invocation(profile_name, as_json)
        try:
            return fn(invocation, *args, **params)
        except CliError as exc:
            exc.as_json = as_json
            raise
        finally:
            invocation.close()

    return command


def listing_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--limit``, ``--cursor`` and ``--all`` for a command that lists a paginated resource."""
    fn = click.option("--all", "every", is_flag=True, help="Follow next_cursor to the end.")(fn)
    fn = click.option("--cursor", help="The next_cursor of the previous page.")(fn)
    return click.option(
        "--limit", type=click.IntRange(1, 200), default=50, show_default=True, help="Page size."
    )(fn)


def show_list(
    inv: Invocation,
    path: str,
    item: type[Any],
    columns: Sequence[tuple[str, Callable[[Any], Any]]],
    *,
    limit: int,
    cursor: str | None,
    every: bool,
    params: dict[str, Any] | None = None,
) -> None:
    """One page (items + next_cursor) or, with --all, every item; as JSON or a table."""
    if every:
        page: PageOut[Any] = PageOut(list(inv.client.every(path, item, params)), None)
    else:
        page = inv.client.page(path, item, {**(params or {}), "limit": limit, "cursor": cursor})

    def human() -> None:
        table(page.items, columns)
        page_footer(page.next_cursor)

    inv.out.emit(page, human)


def build(kind: type[T], document: dict[str, Any]) -> T:
    """A request body as its Struct, checked here against the limits the server decodes with."""
    try:
        return msgspec.convert({k: v for k, v in document.items() if v is not None}, kind)
    except msgspec.ValidationError as exc:
        raise usage_error(f"invalid request: {exc}") from None
