"""Partial states of lifetime aggregates (``sql/window_latest.py``): each function's mergeable summary of
a set of events, as columns ``__p<i>_<part>`` of a row per entity. Made from events
(``state_of_events``, under a GROUP BY), combined two by two (``merged_state``, either side may be
missing), and turned into the aggregate's value (``finished``):

    count ``n`` | sum ``s`` | mean ``(n, s)`` | min/max ``v`` | stddev ``(n, mean, m2)`` (Chan's update)
    last ``l``: the greatest ``(ts, created, value)`` struct | count_distinct ``d``: the distinct values

The ``last`` struct holds nanoseconds since the epoch for a nanosecond source's times (``latest_key``),
so states of such a source taken before its times were compared exactly are not reused
(``registry/partials.py``).
"""

from __future__ import annotations

from sqlglot import exp

from featurestore.plan.nodes import SourceScan
from featurestore.plan.window import WindowedValue
from featurestore.sql.duckdb import col
from featurestore.sql.duckdb_types import DUCKDB_TYPES
from featurestore.sql.window import _not_null, latest_key
from featurestore.sql.window_running import plain_sum

ZERO = exp.Literal.number(0)


def _state_name(i: int, part: str) -> str:
    return f"__p{i}_{part}"


def _parts(a: WindowedValue) -> tuple[str, ...]:
    """The columns of one lifetime aggregate's partial state."""
    return {
        "count": ("n",),
        "sum": ("s",),
        "mean": ("n", "s"),
        "min": ("v",),
        "max": ("v",),
        "stddev": ("n", "mean", "m2"),
        "last": ("l",),
        "count_distinct": ("d",),
    }[a.function]


def state_of_events(i: int, a: WindowedValue, scan: SourceScan) -> list[exp.Expr]:
    """Aggregates over event rows of ``scan`` (``window_events``, under a ``GROUP BY`` of the keys) that
    make the partial state of aggregate ``i``."""
    column = col(a.column)
    number = exp.cast(column.copy(), "DOUBLE")
    exprs: dict[str, exp.Expr] = {
        "n": exp.Count(this=column.copy()),
        "s": exp.cast(
            plain_sum(a, column.copy()), DUCKDB_TYPES[a.dtype] if a.function == "sum" else "DOUBLE"
        ),
        "v": (exp.Min if a.function == "min" else exp.Max)(this=column.copy()),
        "mean": exp.Avg(this=number),
        "m2": exp.Mul(this=exp.VariancePop(this=number.copy()), expression=exp.Count(this=column.copy())),
        "l": exp.Filter(
            this=exp.Max(this=latest_key(scan, column.copy())),
            expression=exp.Where(this=_not_null(column.copy())),
        ),
        "d": exp.Filter(
            this=exp.ArrayAgg(this=exp.Distinct(expressions=[column.copy()])),
            expression=exp.Where(this=_not_null(column.copy())),
        ),
    }
    return [exp.alias_(exprs[p], _state_name(i, p), quoted=True) for p in _parts(a)]


def merged_state(i: int, a: WindowedValue, left: str, right: str) -> list[exp.Expr]:
    """The state of aggregate ``i`` from two states (either may be missing: NULL)."""

    def part(side: str, name: str) -> exp.Column:
        return col(_state_name(i, name), side)

    def count(side: str) -> exp.Expr:
        return exp.Coalesce(this=part(side, "n"), expressions=[ZERO])

    out: dict[str, exp.Expr] = {}
    for name in _parts(a):
        if name == "n":
            out[name] = exp.Add(this=count(left), expression=count(right))
        elif name == "s":
            l_s, r_s = part(left, "s"), part(right, "s")
            out[name] = exp.Case(
                ifs=[
                    exp.If(this=exp.Is(this=l_s, expression=exp.null()), true=r_s.copy()),
                    exp.If(this=exp.Is(this=r_s.copy(), expression=exp.null()), true=l_s.copy()),
                ],
                default=exp.Add(this=l_s.copy(), expression=r_s.copy()),
            )
        elif name == "v":
            pick = "least" if a.function == "min" else "greatest"  # DuckDB's: NULL-ignoring
            out[name] = exp.Anonymous(this=pick, expressions=[part(left, "v"), part(right, "v")])
        elif name == "l":
            out[name] = exp.Anonymous(this="greatest", expressions=[part(left, "l"), part(right, "l")])
        elif name == "d":
            both = exp.Anonymous(
                this="list_concat",
                expressions=[
                    exp.Coalesce(this=part(left, "d"), expressions=[exp.Array(expressions=[])]),
                    exp.Coalesce(this=part(right, "d"), expressions=[exp.Array(expressions=[])]),
                ],
            )
            out[name] = exp.Anonymous(this="list_distinct", expressions=[both])
    if a.function == "stddev":  # Chan et al.: combine (n, mean, m2) of two disjoint sets of values
        na, nb = count(left), count(right)
        n = exp.Paren(this=exp.Add(this=na.copy(), expression=nb.copy()))
        delta = exp.Paren(this=exp.Sub(this=part(right, "mean"), expression=part(left, "mean")))
        mean = exp.Add(
            this=part(left, "mean"),
            expression=exp.Div(this=exp.Mul(this=delta.copy(), expression=nb.copy()), expression=n.copy()),
        )
        m2 = exp.Add(
            this=exp.Add(this=part(left, "m2"), expression=part(right, "m2")),
            expression=exp.Div(
                this=exp.Mul(
                    this=exp.Mul(
                        this=exp.Mul(this=delta.copy(), expression=delta.copy()), expression=na.copy()
                    ),
                    expression=nb.copy(),
                ),
                expression=n.copy(),
            ),
        )
        for name, combined in (("mean", mean), ("m2", m2)):
            out[name] = exp.Case(
                ifs=[
                    exp.If(this=exp.EQ(this=na.copy(), expression=ZERO), true=part(right, name)),
                    exp.If(this=exp.EQ(this=nb.copy(), expression=ZERO), true=part(left, name)),
                ],
                default=combined,
            )
    return [exp.alias_(out[p], _state_name(i, p), quoted=True) for p in _parts(a)]


def finished(i: int, a: WindowedValue, side: str) -> exp.Expr:
    """An aggregate's value from its state."""

    def part(name: str) -> exp.Column:
        return col(_state_name(i, name), side)

    count = exp.Coalesce(this=part("n"), expressions=[ZERO]) if "n" in _parts(a) else None
    if a.function == "count":
        assert count is not None
        return count
    if a.function == "sum":
        return part("s")
    if a.function == "mean":
        assert count is not None
        some = exp.GT(this=count.copy(), expression=ZERO)
        return exp.Case(ifs=[exp.If(this=some, true=exp.Div(this=part("s"), expression=count.copy()))])
    if a.function in ("min", "max"):
        return part("v")
    if a.function == "stddev":
        assert count is not None
        n_1 = exp.Paren(this=exp.Sub(this=count.copy(), expression=exp.Literal.number(1)))
        variance = exp.Div(this=part("m2"), expression=n_1)
        positive = exp.Anonymous(this="greatest", expressions=[variance, ZERO.copy()])  # rounding below 0
        sqrt = exp.Sqrt(this=positive)
        return exp.Case(
            ifs=[exp.If(this=exp.GT(this=count.copy(), expression=exp.Literal.number(1)), true=sqrt)]
        )
    if a.function == "last":
        return exp.Anonymous(this="struct_extract", expressions=[part("l"), exp.Literal.string("v")])
    return exp.Coalesce(this=exp.Anonymous(this="len", expressions=[part("d")]), expressions=[ZERO])
