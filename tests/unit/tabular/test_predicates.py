"""The Arrow predicate engine equals the reference evaluator, value for value.

The oracle is the row-at-a-time evaluator that served views before the engine
(``reference_row_test`` below is that evaluator, kept verbatim as the specification).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tabular import ViewError, coerce, compile_filter, matcher, parse_view

KINDS = ["string", "integer", "number", "boolean", "date", "timestamp"]
OPS = ["eq", "ne", "lt", "le", "gt", "ge", "in"]


def reference_row_test(node: Any, types: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
    """The previous evaluator: a row (dict; a missing key is no value) passes the tree."""
    if "all" in node or "any" in node:
        tests = [reference_row_test(child, types) for child in node.get("all", node.get("any"))]
        if "all" in node:
            return lambda row: all(test(row) for test in tests)
        return lambda row: any(test(row) for test in tests)
    match = matcher(types.get(node["field"], "string"), node["op"], node["value"])
    name = node["field"]
    return lambda row: name in row and match(row[name])


# Strings of the shapes each type reads, near misses, and noise.
TEXT = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "EU",
            "eu",
            "true",
            " TRUE ",
            "False",
            "yes",
            "1",
            "-0",
            "+3",
            "2.5",
            ".5",
            "1.",
            "1e3",
            "1E-2",
            "nan",
            "inf",
            "1e999",
            "12345678901234567890",
            "007",
            "9007199254740993",
            "2024-01-31",
            "2024-1-31",
            "20240131",
            "2024-02-30",
            "0000-01-01",
            "2024-01-31T10:00:00",
            "2024-01-31 10:00:00",
            "2024-01-31T10:00:00Z",
            "2024-01-31T10:00:00.5+02:00",
            "2024-01-31T24:00:00",
            "\x1c5\x1f",
            "\u00a03\u2003",
            "\uff13",
            "1_000",
        ]
    ),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.dates().map(date.isoformat),
    st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-3))])).map(
        datetime.isoformat
    ),
    st.datetimes().map(lambda d: d.isoformat(sep=" ", timespec="seconds")),
    st.text(max_size=6),
)
VALUE = st.one_of(
    TEXT,
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)


def _leaf(kind: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": "c", "op": op, "value": value}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(KINDS),
    st.sampled_from(OPS),
    VALUE,
    st.lists(VALUE, max_size=4),
    st.lists(st.one_of(TEXT, st.none()), max_size=30),
)
def test_string_columns_match_the_reference(
    kind: str, op: str, value: Any, values: list[Any], column: list[str | None]
) -> None:
    where = _leaf(kind, op, values if op == "in" else value)
    types = {"c": kind}
    engine = compile_filter(where, types).mask(pa.table({"c": pa.array(column, pa.string())}))
    oracle = reference_row_test(where, types)
    expected = [oracle({"c": raw}) if raw is not None else False for raw in column]
    assert engine.to_pylist() == expected
    assert engine.null_count == 0


TYPED = st.one_of(
    st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1), st.none()), max_size=20).map(
        lambda v: pa.array(v, pa.int64())
    ),
    st.lists(st.one_of(st.floats(), st.none()), max_size=20).map(
        lambda v: pa.array(v, pa.float64())
    ),
    st.lists(st.one_of(st.booleans(), st.none()), max_size=20).map(
        lambda v: pa.array(v, pa.bool_())
    ),
    st.lists(st.one_of(st.dates(), st.none()), max_size=20).map(lambda v: pa.array(v, pa.date32())),
    st.lists(st.one_of(st.datetimes(), st.none()), max_size=20).map(
        lambda v: pa.array(v, pa.timestamp("us"))
    ),
    st.lists(
        st.one_of(
            st.datetimes(datetime(1700, 1, 1), datetime(2200, 1, 1), timezones=st.just(UTC)),
            st.none(),
        ),
        max_size=20,
    ).map(lambda v: pa.array(v, pa.timestamp("ns", tz="UTC"))),
    st.lists(
        st.one_of(
            st.decimals(
                places=2, allow_nan=False, allow_infinity=False, min_value=-(10**6), max_value=10**6
            ),
            st.none(),
        ),
        max_size=20,
    ).map(lambda v: pa.array(v, pa.decimal128(12, 2))),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KINDS), st.sampled_from(OPS), VALUE, st.lists(VALUE, max_size=4), TYPED)
def test_typed_columns_match_the_reference(
    kind: str, op: str, value: Any, values: list[Any], column: pa.Array
) -> None:
    where = _leaf(kind, op, values if op == "in" else value)
    types = {"c": kind}
    engine = compile_filter(where, types).mask(pa.table({"c": column}))
    oracle = reference_row_test(where, types)
    expected = [oracle({"c": raw}) if raw is not None else False for raw in column.to_pylist()]
    assert engine.to_pylist() == expected


LEAF = st.builds(
    lambda field, op, value, values: {
        "field": field,
        "op": op,
        "value": values if op == "in" else value,
    },
    st.sampled_from(["a", "b", "missing"]),
    st.sampled_from(OPS),
    VALUE,
    st.lists(VALUE, max_size=3),
)
TREE = st.recursive(
    LEAF,
    lambda children: st.one_of(
        st.builds(lambda c: {"all": c}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda c: {"any": c}, st.lists(children, min_size=1, max_size=3)),
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    TREE,
    st.sampled_from(KINDS),
    st.sampled_from(KINDS),
    st.lists(st.tuples(TEXT, TEXT), max_size=20),
)
def test_where_trees_match_the_reference(
    tree: Any, kind_a: str, kind_b: str, rows: list[tuple[str, str]]
) -> None:
    types = {"a": kind_a, "b": kind_b}
    table = pa.table(
        {"a": pa.array([a for a, _ in rows], pa.string()), "b": pa.array([b for _, b in rows])},
        schema=pa.schema([("a", pa.string()), ("b", pa.string())]),
    )
    engine = compile_filter(tree, types).mask(table).to_pylist()
    oracle = reference_row_test(tree, types)
    assert engine == [oracle({"a": a, "b": b}) for a, b in rows]


@settings(max_examples=200, deadline=None)
@given(
    TREE,
    st.sampled_from(KINDS),
    st.lists(st.dictionaries(st.sampled_from(["a", "b"]), VALUE), max_size=20),
)
def test_python_columns_of_mixed_json_types_match_the_reference(
    tree: Any, kind: str, rows: list[dict[str, Any]]
) -> None:
    types = {"a": kind, "b": "number"}
    engine = compile_filter(tree, types).mask_columns(
        lambda name: [row.get(name) for row in rows] if name != "missing" else None, len(rows)
    )
    oracle = reference_row_test(tree, types)
    expected = [oracle({k: v for k, v in row.items() if v is not None}) for row in rows]
    assert engine.to_pylist() == expected


@pytest.mark.parametrize(
    ("kind", "op", "value", "matching", "not_matching"),
    [
        ("integer", "ne", 3, ["4", " 2 ", 2.5, "1e1"], ["3", 3, "3.0", "", "x", None, True, "nan"]),
        ("number", "gt", 2, ["2.5", 3, "+1e3"], ["2", "inf", "1_000", "\uff12", [3], {"a": 3}]),
        ("number", "in", ["1", 2.0, "x"], [1, "2", "1.0"], ["3", "x", None]),
        ("string", "ne", "EU", ["US", ""], ["EU", None, 5, False]),
        ("string", "lt", "b", ["a", "B"], ["b", "c", 1]),
        ("boolean", "eq", "true", [True, "TRUE", " true "], [False, "1", "yes", 1]),
        ("date", "ge", "2024-01-31", ["2024-02-01", date(2024, 1, 31)], ["2024-01-30", "x", 5]),
        (
            "timestamp",
            "lt",
            "2024-01-01T00:00:00+01:00",
            ["2023-12-31T22:59:59Z", "2023-12-31T22:59:59", "2023-12-31", "2024-01-01T00:59+02:00"],
            ["2023-12-31T23:00:00Z", "2024-01-01T00:00:00+01:00", "bad", 17],
        ),
    ],
)
def test_predicates_compare_by_schema_type_and_fail_closed(
    kind: str, op: str, value: Any, matching: list[Any], not_matching: list[Any]
) -> None:
    match = matcher(kind, op, value)
    assert all(match(raw) for raw in matching)
    assert not any(match(raw) for raw in not_matching)
    strings = [raw for raw in matching if type(raw) is str]
    where = {"field": "c", "op": op, "value": value}
    mask = compile_filter(where, {"c": kind}).mask(pa.table({"c": pa.array(strings, pa.string())}))
    assert all(mask.to_pylist())


@pytest.mark.parametrize("op", OPS)
def test_a_predicate_value_that_does_not_fit_its_type_matches_no_row(op: str) -> None:
    value = ["abc", None] if op == "in" else "abc"
    where = {"field": "c", "op": op, "value": value}
    table = pa.table({"c": pa.array(["1", "abc", "", None], pa.string())})
    assert not any(compile_filter(where, {"c": "integer"}).mask(table).to_pylist())


def test_decimals_and_huge_integers_are_compared_exactly() -> None:
    assert coerce("number", "9007199254740993") == 9007199254740993
    where = {"field": "c", "op": "gt", "value": 9007199254740992}
    table = pa.table({"c": pa.array(["9007199254740993", "9007199254740992.0"])})
    assert compile_filter(where, {"c": "integer"}).mask(table).to_pylist() == [True, False]
    decimal = pa.table({"c": pa.array([Decimal("1.10"), Decimal("1.00")], pa.decimal128(5, 2))})
    eq = {"field": "c", "op": "eq", "value": 1}  # Decimal("1.10") == 1.1 is false in Python
    assert compile_filter(eq, {"c": "number"}).mask(decimal).to_pylist() == [False, True]


def test_dotted_paths_read_struct_columns() -> None:
    table = pa.table({"a": pa.array([{"b": 1}, {"b": 2}, None])})
    where = {"field": "a.b", "op": "ge", "value": 2}
    assert compile_filter(where, {"a.b": "integer"}).mask(table).to_pylist() == [
        False,
        True,
        False,
    ]


@pytest.mark.parametrize(
    "view",
    [
        {"fields": [], "where": None},
        {"fields": ["a", "a"], "where": None},
        {"fields": None, "where": {"field": "a", "op": "like", "value": "x"}},
        {"fields": None, "where": {"all": []}},
        {"fields": None, "where": {"field": "a", "op": "in", "value": "x"}},
        {"fields": None, "where": None, "extra": 1},
    ],
)
def test_invalid_views_fail_closed(view: dict[str, Any]) -> None:
    with pytest.raises(ViewError):
        parse_view(view)


def test_comparisons_table_is_pythons() -> None:
    from tabular.values import COMPARISONS

    assert COMPARISONS["lt"] is operator.lt
