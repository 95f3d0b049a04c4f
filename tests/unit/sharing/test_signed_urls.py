"""Signed file URLs and protocol page tokens, without HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from escrow.errors import BadRequestError, ForbiddenError
from escrow.sharing import pages
from escrow.sharing.signed_urls import FileClaims, UrlSigner

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
CLAIMS = FileClaims(
    agreement_id="a" * 36,
    file_id="f" * 36,
    version=2,
    view_sha256="0" * 64,
    profile_id="p" * 36,
    session_id="s" * 36,
    expires=int(NOW.timestamp()) + 900,
)


def test_a_signed_url_opens_to_its_claims_until_it_expires() -> None:
    signer = UrlSigner(b"k" * 32)
    token = signer.sign(CLAIMS)
    assert signer.open(token, NOW) == CLAIMS
    with pytest.raises(ForbiddenError, match="expired"):
        signer.open(token, datetime.fromtimestamp(CLAIMS.expires, tz=UTC))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.replace(".", ".x", 1),
        lambda t: "X" + t[1:],
        lambda t: t.split(".")[0],
        lambda t: t + "=" * 2000,
        lambda t: "é" + t,
        lambda t: "",
    ],
)
def test_a_tampered_url_is_refused(mangle: object) -> None:
    token = UrlSigner(b"k" * 32).sign(CLAIMS)
    with pytest.raises(ForbiddenError, match="not valid"):
        UrlSigner(b"k" * 32).open(mangle(token), NOW)  # type: ignore[operator]


def test_another_key_does_not_open_the_url() -> None:
    token = UrlSigner(b"k" * 32).sign(CLAIMS)
    with pytest.raises(ForbiddenError):
        UrlSigner(b"j" * 32).open(token, NOW)


def test_pages_walk_every_item_once_and_refuse_foreign_tokens() -> None:
    items = ["a", "b", "c", "d", "e"]
    seen, token = [], None
    while True:
        page, token = pages.page(items, str, 2, token)
        seen += page
        if token is None:
            break
    assert seen == items
    assert pages.page(items, str, 0, None)[0] == []
    for bad in ("%%%", "bm90LW91cnM", "x" * 2000):
        with pytest.raises(BadRequestError):
            pages.page(items, str, 2, bad)
    for raw in ("-1", "ten", "99999999999"):
        with pytest.raises(BadRequestError):
            pages.max_results(raw)
    assert pages.max_results("5000") == pages.MAX_PAGE
