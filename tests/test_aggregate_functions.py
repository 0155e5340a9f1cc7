"""The aggregate function objects (``featurestore/aggregates``): what each accepts and returns, its
empty value, and its partial state run on DuckDB: states of two sets of events merged and finished give
what the function gives over both sets at once (hand-checked values)."""

from __future__ import annotations

import math
from typing import Any, get_args

import duckdb
import pytest
from sqlglot import exp

from featurestore.aggregates import FUNCTIONS, Events, function
from featurestore.aggregates.base import Part
from featurestore.dsl.aggregation import Function
from featurestore.errors import DefinitionError

ALL_KINDS = {"integer", "float", "bool", "string", "bytes", "timestamp", "date", "other"}


def test_registry_matches_the_definitions_literal() -> None:
    assert tuple(FUNCTIONS) == get_args(Function)
    assert all(name == fn.name for name, fn in FUNCTIONS.items())


def test_unknown_function_names_the_closest() -> None:
    with pytest.raises(
        DefinitionError, match=r"unknown function 'avg': did you mean 'mean'\? known: count, "
    ):
        function("avg")
    with pytest.raises(DefinitionError, match=r"'stdev': did you mean 'stddev'\?"):
        function("stdev")


@pytest.mark.parametrize(
    ("name", "accepts", "sweep", "empty", "parts"),
    [
        ("count", ALL_KINDS, "running", 0, ("n",)),
        ("sum", {"integer", "float", "bool"}, "running", None, ("s",)),
        ("mean", {"integer", "float", "bool"}, "running", None, ("n", "s")),
        ("min", {"integer", "float", "string", "timestamp", "date"}, "frame", None, ("v",)),
        ("max", {"integer", "float", "string", "timestamp", "date"}, "frame", None, ("v",)),
        ("stddev", {"integer", "float"}, "frame", None, ("n", "mean", "m2")),
        ("last", ALL_KINDS - {"other"}, "latest", None, ("l",)),
        ("count_distinct", ALL_KINDS - {"other"}, "frame", 0, ("d",)),
    ],
)
def test_what_each_function_is(
    name: str, accepts: set[str], sweep: str, empty: int | None, parts: tuple[str, ...]
) -> None:
    fn = function(name)
    assert (set(fn.accepts), fn.sweep, fn.empty, fn.parts) == (accepts, sweep, empty, parts)


@pytest.mark.parametrize(
    ("name", "kind", "column_dtype", "expected"),
    [
        ("count", "other", None, "int64"),
        ("count", "string", "string", "int64"),
        ("count_distinct", "float", "float32", "int64"),
        ("mean", "integer", "int64", "float64"),
        ("mean", "bool", "bool", "float64"),
        ("stddev", "integer", "int64", "float64"),
        ("sum", "integer", "int64", "int64"),
        ("sum", "bool", "bool", "int64"),
        ("sum", "float", "float32", "float64"),
        ("min", "float", "float32", "float32"),
        ("max", "timestamp", "timestamp", "timestamp"),
        ("last", "bytes", "bytes", "bytes"),
        ("last", "bool", "bool", "bool"),
    ],
)
def test_output_dtype(name: str, kind: Any, column_dtype: Any, expected: str) -> None:
    assert function(name).output_dtype(kind, column_dtype) == expected


def test_fixed_dtypes_and_phrases() -> None:
    fixed = {name: fn.fixed_dtype for name, fn in FUNCTIONS.items() if fn.fixed_dtype}
    assert fixed == {"count": "int64", "mean": "float64", "stddev": "float64", "count_distinct": "int64"}
    assert function("stddev").accepted_kinds() == "float or integer"
    assert function("sum").accepted_kinds() == "bool, float or integer"


def test_running_functions_finish_totals_and_others_refuse() -> None:
    for fn in FUNCTIONS.values():
        if fn.sweep != "running":
            with pytest.raises(TypeError, match=f"{fn.name} is swept as"):
                fn.from_totals(exp.column("n"), exp.column("s"))


# Two sets of events (value, time, created); nulls are ignored. Together: 1, 2, 4, 10, 4.
FIRST = [(1, 1, 1), (2, 2, 1), (None, 9, 9), (4, 3, 1)]
SECOND = [(10, 5, 2), (4, 5, 3), (None, 6, 6)]
STDDEV = math.sqrt(sum((x - 4.2) ** 2 for x in (1, 2, 4, 10, 4)) / 4)
EXPECTED: dict[str, object] = {
    "count": 5,
    "sum": 21,
    "mean": 4.2,
    "min": 1,
    "max": 10,
    "stddev": STDDEV,
    "last": 4,  # time 5, tied with 10, created later
    "count_distinct": 4,
}


def _events_of(rows: list[tuple[int | None, int, int]]) -> exp.Expr:
    values = ", ".join(f"({'NULL' if v is None else v}, {t}, {c})" for v, t, c in rows)
    return exp.maybe_parse(f"(SELECT * FROM (VALUES {values}) AS r(x, t, c))")


def _events(output_type: str) -> Events:
    x = exp.column("x")
    latest = exp.Anonymous(
        this="struct_pack",
        expressions=[
            exp.PropertyEQ(this=exp.to_identifier(n), expression=exp.column(c))
            for n, c in (("t", "t"), ("c", "c"), ("v", "x"))
        ],
    )
    return Events(
        value=x,
        total=exp.Sum(this=x.copy()),
        average=exp.Avg(this=x.copy()),
        latest=latest,
        output_type=output_type,
    )


def _side(table: str) -> Part:
    return lambda part: exp.column(part, table=table)


def _rows(query: exp.Expr) -> list[Any]:
    with duckdb.connect() as con:
        return [row[0] for row in con.execute(query.sql(dialect="duckdb")).fetchall()]


def _run(query: exp.Expr) -> Any:
    (value,) = _rows(query)
    return value


@pytest.mark.parametrize("name", list(EXPECTED))
def test_states_merge_and_finish_to_the_aggregate(name: str) -> None:
    fn = function(name)
    events = _events("BIGINT")

    def state(rows: list[tuple[int | None, int, int]]) -> exp.Select:
        parts = fn.state_of_events(events)
        return exp.select(*[exp.alias_(parts[p], p) for p in fn.parts]).from_(
            exp.Subquery(this=_events_of(rows), alias="ev")
        )

    merged = fn.merge(_side("a"), _side("b"))
    both = (
        exp.select(*[exp.alias_(merged[p], p) for p in fn.parts])
        .from_(state(FIRST).subquery("a"))
        .join(state(SECOND).subquery("b"), join_type="CROSS")
    )
    value = _run(exp.select(fn.finish(_side("m"))).from_(both.subquery("m")))
    at_once = exp.select(fn.aggregate(_events("BIGINT"))).from_(_events_of(FIRST + SECOND).subquery("ev"))
    only = fn.event_filter(_events("BIGINT"))
    if only is not None:
        at_once = at_once.where(only)
    assert value == pytest.approx(EXPECTED[name])
    assert _run(at_once) == pytest.approx(EXPECTED[name])


@pytest.mark.parametrize("name", list(EXPECTED))
def test_a_missing_state_merges_as_nothing_and_finishes_empty(name: str) -> None:
    fn = function(name)
    parts = fn.state_of_events(_events("BIGINT"))
    state = exp.select(*[exp.alias_(parts[p], p) for p in fn.parts]).from_(_events_of(FIRST).subquery("ev"))
    alone = state.subquery("a")
    merged = fn.merge(_side("a"), _side("b"))
    # A FULL OUTER JOIN that matches nothing: each state beside a missing (all-null) one.
    sides = (
        exp.select(*[exp.alias_(merged[p], p) for p in fn.parts])
        .from_(alone)
        .join(state.copy().subquery("b"), on=exp.false(), join_type="FULL OUTER")
    )
    values = _rows(exp.select(fn.finish(_side("m"))).from_(sides.subquery("m")))
    direct = _run(exp.select(fn.aggregate(_events("BIGINT"))).from_(_events_of(FIRST).subquery("ev")))
    assert values == [pytest.approx(direct)] * 2
    nothing = exp.select(fn.finish(_side("m"))).from_(
        exp.select(*[exp.alias_(exp.null(), p) for p in fn.parts]).subquery("m")
    )
    assert _run(nothing) == fn.empty
