"""The match-key normalizers of DESIGN section 11, on a table of tricky inputs."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tabular.normalize import normalize, normalize_value

DOMAINS = [
    ("example.com", "example.com"),
    ("https://www.Example.com/path?q=1#top", "example.com"),
    ("  WWW.example.COM.  ", "example.com"),
    ("http://user:secret@example.com:8080/", "example.com"),
    ("ftp://example.com", "example.com"),
    ("example.com:443", "example.com"),
    ("example.com...", "example.com"),
    ("EXAMPLE.COM", "example.com"),
    ("bob@Example.com", "example.com"),
    (" Alice.Smith@sales.example.com ", "sales.example.com"),
    ("eu.example.com", "eu.example.com"),  # subdomains are kept
    ("www.www.example.com", "www.example.com"),  # one leading www. only
    ("wwwexample.com", "wwwexample.com"),
    ("example.com/www.other.org", "example.com"),
    ("Bücher.de", "xn--bcher-kva.de"),
    ("https://www.MÜNCHEN.de/stadt", "xn--mnchen-3ya.de"),
    ("xn--bcher-kva.de", "xn--bcher-kva.de"),
    ("例え.jp", "xn--r8jz45g.jp"),
    ("", None),
    ("   ", None),
    ("https://", None),
    ("www.", "www"),  # the trailing dot goes first, so no "www." is left to drop
    ("@", None),
    (None, None),
]


@pytest.mark.parametrize(("raw", "expected"), DOMAINS)
def test_domain_normalizer_reduces_spellings_to_one_key(raw: str | None, expected: str | None):
    assert normalize_value(raw, "domain") == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Bob@Example.COM ", "bob@example.com"),
        ("bob@example.com", "bob@example.com"),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_email_normalizer_trims_and_lowercases(raw: str | None, expected: str | None):
    assert normalize_value(raw, "email") == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  ACME   Corp\t Inc ", "acme corp inc"),
        ("Straße", "strasse"),  # casefold, not just lower
        ("ﬁne", "fine"),  # NFKC
        ("\uff26\uff55\uff4c\uff4c width", "full width"),  # full-width letters
        ("", None),
        (" \t\n", None),
    ],
)
def test_text_normalizer_folds_case_width_and_whitespace(raw: str, expected: str | None):
    assert normalize_value(raw, "text") == expected


def test_unknown_normalizer_is_refused():
    with pytest.raises(ValueError, match="unsupported normalizer"):
        normalize(pa.array(["x"]), "soundex")


def test_normalize_keeps_length_and_positions_over_chunked_and_mixed_input():
    values = pa.chunked_array([["A.com", None], ["Bücher.de", "", "b.COM"]])
    assert normalize(values, "domain").to_pylist() == [
        "a.com",
        None,
        "xn--bcher-kva.de",
        None,
        "b.com",
    ]


@given(st.lists(st.one_of(st.none(), st.text(max_size=30)), max_size=40))
def test_normalize_on_an_array_equals_normalizing_each_value(values: list[str | None]):
    for kind in ("domain", "email", "text"):
        whole = normalize(pa.array(values, pa.string()), kind).to_pylist()
        assert whole == [normalize_value(v, kind) for v in values]
