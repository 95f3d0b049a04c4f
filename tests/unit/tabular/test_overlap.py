"""Overlap joins: counts equal the reference set intersection; rows point at first holders."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tabular.normalize import normalize
from tabular.overlap import absent, key_index, overlap_count, shared, take_rows

KEYS = st.lists(st.one_of(st.none(), st.sampled_from(["a.com", "b.com", "c.org", "d.net", ""])))
SPELLINGS = st.lists(
    st.sampled_from(
        [
            "Acme.com",
            "https://www.acme.com/",
            "acme.com.",
            "globex.io",
            "WWW.GLOBEX.IO:443",
            "initech.net",
            "bob@initech.net",
            "",
            "  ",
            "eu.acme.com",
            "Bücher.de",
            "bücher.DE",
        ]
    ),
    max_size=60,
)


def _reference(values: list[str | None]) -> set[str]:
    return {v for v in normalize(pa.array(values, pa.string()), "domain").to_pylist() if v}


@given(SPELLINGS, SPELLINGS)
def test_count_equals_the_reference_set_intersection(
    mine: list[str | None], theirs: list[str | None]
):
    a = key_index(normalize(pa.array(mine, pa.string()), "domain"))
    b = key_index(normalize(pa.array(theirs, pa.string()), "domain"))
    expected = _reference(mine) & _reference(theirs)
    assert overlap_count(a, b) == len(expected) == overlap_count(b, a)
    matches = shared(a, b)
    assert matches.keys.to_pylist() == sorted(expected)
    page = matches.page(0, len(matches))
    normalized_mine = normalize(pa.array(mine, pa.string()), "domain").to_pylist()
    normalized_theirs = normalize(pa.array(theirs, pa.string()), "domain").to_pylist()
    for key, row, other in zip(
        page.keys.to_pylist(),
        page.rows.to_pylist(),
        page.other_rows.to_pylist(),
        strict=True,
    ):
        assert row == normalized_mine.index(key)  # the first row holding the key
        assert other == normalized_theirs.index(key)


@given(KEYS, KEYS, KEYS)
def test_absent_keys_are_in_none_of_the_others(theirs: list, one: list, two: list):
    index = key_index(pa.array(theirs, pa.string()))
    others = [key_index(pa.array(one, pa.string())), key_index(pa.array(two, pa.string()))]
    got = absent(index, others).keys.to_pylist()
    nonempty = {k for k in theirs if k is not None}
    assert got == sorted(nonempty - {k for k in one + two if k is not None})


def test_pages_of_matches_follow_the_key_order():
    a = key_index(pa.array(["d", "b", "a", "c", "e"]))
    b = key_index(pa.array(["e", "a", "b", "x", "d"]))
    matches = shared(a, b)
    first = matches.after(None, 2)
    assert first.keys.to_pylist() == ["a", "b"]
    assert matches.after("b", 2).keys.to_pylist() == ["d", "e"]
    assert matches.after("e", 2).keys.to_pylist() == []


def test_empty_sides_share_nothing():
    empty = key_index(pa.array([], pa.string()))
    full = key_index(pa.array(["a"]))
    assert overlap_count(empty, full) == 0
    assert shared(empty, full).keys.to_pylist() == []
    assert absent(full, [empty]).keys.to_pylist() == ["a"]


@given(st.lists(st.integers(0, 40), unique=True), st.lists(st.integers(1, 9), min_size=1))
def test_rows_are_taken_across_batches_in_the_asked_order(rows: list[int], sizes: list[int]):
    total = sum(sizes)
    rows = [r for r in rows if r < total]
    numbers = list(range(total))
    batches, start = [], 0
    for size in sizes:
        chunk = numbers[start : start + size]
        batches.append(pa.record_batch({"n": chunk, "s": [f"v{n}" for n in chunk]}))
        start += size
    picked = take_rows(iter(batches), pa.array(rows, pa.int64()))
    assert picked is not None
    assert picked.to_pydict() == {"n": rows, "s": [f"v{r}" for r in rows]}


def test_taking_from_no_batches_gives_nothing_and_a_row_past_the_end_is_refused():
    assert take_rows(iter([]), pa.array([], pa.int64())) is None
    with pytest.raises(IndexError):
        take_rows(iter([pa.record_batch({"n": [1, 2]})]), pa.array([2], pa.int64()))
