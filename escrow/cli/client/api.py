"""``Client``: the Partner Escrow API over httpx, with one profile's API key.

Requests and responses are the client's own msgspec types (``models``): requests carry the
limits the server decodes with, so bad input fails here first; a contract test holds them
to the server's OpenAPI document. Access tokens live in memory only: exchanged on first
use, again shortly before they expire, and once more when the server answers 401 (a
revoked token, a rotated signing key).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
import msgspec

from escrow import __version__
from escrow.cli.client.exits import CliError, ExitCode, exit_code_for
from escrow.cli.client.models import PageOut
from escrow.cli.client.models.auth import TokenOut, TokenRequest
from escrow.cli.client.profiles import Profile

T = TypeVar("T")
Body = Callable[[], Iterable[bytes] | bytes]  # a fresh body per attempt: a retry resends it
Params = dict[str, Any]

USER_AGENT = f"escrow-cli/{__version__}"
TIMEOUT = httpx.Timeout(120.0, connect=10.0)
REFRESH_MARGIN = 30.0  # seconds before expiry at which a token is replaced
JSON = {"Content-Type": "application/json"}


class Client:
    def __init__(
        self,
        profile: Profile,
        *,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.profile = profile
        self._clock = clock
        self._http = httpx.Client(
            base_url=profile.server,
            timeout=TIMEOUT,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        )
        self.access_token: str | None = None
        self._refresh_at = 0.0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ tokens

    def exchange(self) -> TokenOut:
        """Trade the profile's API key for a new access token (401 -> exit code 3)."""
        asked_at = self._clock()
        body = msgspec.json.encode(
            TokenRequest(key_id=self.profile.key_id, secret=self.profile.secret)
        )
        response = self._transmit("POST", "/v1/auth/token", None, JSON, lambda: body, False)
        if response.is_error:
            raise problem_error(response)
        issued = decode(response, TokenOut)
        self.access_token = issued.access_token
        margin = min(REFRESH_MARGIN, issued.expires_in / 4)
        self._refresh_at = asked_at + issued.expires_in - margin
        return issued

    def _authorization(self, renew: bool) -> tuple[str, bool]:
        fresh = renew or self.access_token is None or self._clock() >= self._refresh_at
        if fresh:
            self.exchange()
        return f"Bearer {self.access_token}", fresh

    # ----------------------------------------------------------------- requests

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        headers: dict[str, str] | None = None,
        body: Body | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Fails closed: any non-2xx answer raises a CliError built from its problem.

        A stream=True response must be closed by the caller (see ``streaming``).
        """
        query = {k: v for k, v in (params or {}).items() if v is not None}
        authorization, fresh = self._authorization(renew=False)
        response = self._transmit(
            method, path, query, {**(headers or {}), "Authorization": authorization}, body, stream
        )
        if response.status_code == 401 and not fresh:
            response.close()
            authorization, _ = self._authorization(renew=True)
            response = self._transmit(
                method,
                path,
                query,
                {**(headers or {}), "Authorization": authorization},
                body,
                stream,
            )
        if response.is_error:
            try:
                response.read()
            finally:
                response.close()
            raise problem_error(response)
        return response

    @contextmanager
    def streaming(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        headers: dict[str, str] | None = None,
    ) -> Iterator[httpx.Response]:
        """``send`` with the body left unread, for the caller to stream; closed afterwards."""
        response = self.send(method, path, params=params, headers=headers, stream=True)
        try:
            yield response
        finally:
            response.close()

    def call(
        self,
        method: str,
        path: str,
        out: type[T],
        *,
        body: msgspec.Struct | None = None,
        params: Params | None = None,
    ) -> T:
        """A JSON request (its body a request Struct of ``models``), decoded as ``out``."""
        content = None if body is None else msgspec.json.encode(body)
        response = self.send(
            method,
            path,
            params=params,
            headers=JSON if content is not None else None,
            body=None if content is None else lambda: content,
        )
        return decode(response, out)

    def get(self, path: str, out: type[T], params: Params | None = None) -> T:
        return self.call("GET", path, out, params=params)

    def text(self, path: str, params: Params | None = None) -> str:
        return self.send("GET", path, params=params).text

    def page(self, path: str, item: type[T], params: Params | None = None) -> PageOut[T]:
        return self.get(path, PageOut[item], params)  # type: ignore[valid-type]

    def every(self, path: str, item: type[T], params: Params | None = None) -> Iterator[T]:
        """Every item of a paginated list, following ``next_cursor`` to the end."""
        query = {**(params or {}), "limit": 200}
        while True:
            page = self.page(path, item, query)
            yield from page.items
            if page.next_cursor is None:
                return
            query["cursor"] = page.next_cursor

    def _transmit(
        self,
        method: str,
        path: str,
        params: Params | None,
        headers: dict[str, str],
        body: Body | None,
        stream: bool,
    ) -> httpx.Response:
        request = self._http.build_request(
            method, path, params=params, headers=headers, content=body() if body else None
        )
        try:
            return self._http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise unreachable(self.profile.server, exc) from None


def unreachable(server: str, exc: Exception) -> CliError:
    return CliError.local(
        ExitCode.UNAVAILABLE,
        "unreachable",
        "Server unreachable",
        f"cannot talk to {server}: {exc or type(exc).__name__}",
    )


def decode(response: httpx.Response, out: type[T]) -> T:
    try:
        return msgspec.json.decode(response.content, type=out)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise CliError.local(
            ExitCode.UNEXPECTED,
            "bad-response",
            "Unexpected answer",
            f"{response.request.method} {response.request.url.path} answered what this client"
            f" does not understand (is the server another version?): {exc}",
        ) from None


def problem_error(response: httpx.Response) -> CliError:
    """The server's RFC 9457 problem as a CliError whose exit code follows the status."""
    status = response.status_code
    problem: Any = None
    if response.headers.get("content-type", "").split(";")[0].endswith("json"):
        try:
            problem = response.json()
        except ValueError:
            problem = None
    if not isinstance(problem, dict):
        text = response.text.strip()[:500]
        problem = {"title": f"HTTP {status}", "detail": text or response.reason_phrase}
    problem.setdefault("status", status)
    return CliError(exit_code_for(status), problem)
