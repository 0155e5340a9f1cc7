"""The aggregate functions, one small class each, and their registry ``FUNCTIONS``.

>>> function("sum").output_dtype("integer", "int64"), function("max").output_dtype("float", "float32")
('int64', 'float32')
>>> [f.name for f in FUNCTIONS.values() if f.sweep == "running"]
['count', 'sum', 'mean']
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, ClassVar

from sqlglot import exp

from featurestore.aggregates.base import (
    AggregateFunction,
    ColumnKind,
    Events,
    Part,
    StatePart,
    Sweep,
    count_or_zero,
    merged_count,
    merged_sum,
    not_null,
    number,
)
from featurestore.errors import DefinitionError

if TYPE_CHECKING:
    from featurestore.dsl.dtypes import DType

_ANY: frozenset[ColumnKind] = frozenset(
    {"integer", "float", "bool", "string", "bytes", "timestamp", "date", "other"}
)
_NUMBERS: frozenset[ColumnKind] = frozenset({"integer", "float", "bool"})
_ORDERED: frozenset[ColumnKind] = frozenset({"integer", "float", "string", "timestamp", "date"})
_VALUES: frozenset[ColumnKind] = _ANY - {"other"}
_COUNT = StatePart("n", "int64")


def _some(count: exp.Expr) -> exp.Expr:
    return exp.GT(this=count, expression=number(0))


class Count(AggregateFunction):
    """The number of non-null values (count the event timestamp column to count every event)."""

    name = "count"
    accepts = _ANY
    sweep: ClassVar[Sweep] = "running"
    state = (_COUNT,)
    empty = 0
    fixed_dtype: ClassVar[DType | None] = "int64"

    def aggregate(self, events: Events) -> exp.Expr:
        return exp.Count(this=events.value)

    def state_of_events(self, events: Events) -> dict[str, exp.Expr]:
        return {"n": exp.Count(this=events.value)}

    def merge(self, left: Part, right: Part) -> dict[str, exp.Expr]:
        return {"n": merged_count(left, right)}

    def finish(self, part: Part) -> exp.Expr:
        return count_or_zero(part)

    def from_totals(self, count: exp.Expr, total: exp.Expr | None) -> exp.Expr:
        return exp.Coalesce(this=count, expressions=[number(0)])


class Sum(AggregateFunction):
    """The sum: int64 over integers and booleans (as 0/1), float64 over other numbers."""

    name = "sum"
    accepts = _NUMBERS
    sweep: ClassVar[Sweep] = "running"
    state = (StatePart("s", "output"),)

    def output_dtype(self, kind: ColumnKind, column_dtype: DType | None) -> DType:
        return "float64" if kind == "float" else "int64"

    def aggregate(self, events: Events) -> exp.Expr:
        return events.total

    def state_of_events(self, events: Events) -> dict[str, exp.Expr]:
        return {"s": exp.cast(events.total, events.output_type)}

    def merge(self, left: Part, right: Part) -> dict[str, exp.Expr]:
        return {"s": merged_sum(left, right)}

    def finish(self, part: Part) -> exp.Expr:
        return part("s")

    def from_totals(self, count: exp.Expr, total: exp.Expr | None) -> exp.Expr:
        if total is None:
            raise ValueError("sum needs the running sum")
        return exp.Case(ifs=[exp.If(this=_some(count), true=total)])


class Mean(AggregateFunction):
    """The mean, a float64 (booleans as 0/1)."""

    name = "mean"
    accepts = _NUMBERS
    sweep: ClassVar[Sweep] = "running"
    state = (_COUNT, StatePart("s", "float64"))
    fixed_dtype: ClassVar[DType | None] = "float64"

    def aggregate(self, events: Events) -> exp.Expr:
        return events.average

    def state_of_events(self, events: Events) -> dict[str, exp.Expr]:
        return {"n": exp.Count(this=events.value), "s": exp.cast(events.total, "DOUBLE")}

    def merge(self, left: Part, right: Part) -> dict[str, exp.Expr]:
        return {"n": merged_count(left, right), "s": merged_sum(left, right)}

    def finish(self, part: Part) -> exp.Expr:
        count = count_or_zero(part)
        mean = exp.Div(this=part("s"), expression=count.copy())
        return exp.Case(ifs=[exp.If(this=_some(count), true=mean)])

    def from_totals(self, count: exp.Expr, total: exp.Expr | None) -> exp.Expr:
        if total is None:
            raise ValueError("mean needs the running sum")
        mean = exp.Div(this=exp.cast(total, "DOUBLE"), expression=count.copy())
        return exp.Case(ifs=[exp.If(this=_some(count), true=mean)])


class _Extreme(AggregateFunction):
    """min or max: keeps the column's type; states merge with the null-ignoring least/greatest."""

    accepts = _ORDERED
    sweep: ClassVar[Sweep] = "frame"
    state = (StatePart("v", "column"),)
    pick: ClassVar[type[exp.AggFunc]]
    merge_with: ClassVar[str]  # DuckDB's least/greatest ignore nulls

    def aggregate(self, events: Events) -> exp.Expr:
        return self.pick(this=events.value)

    def state_of_events(self, events: Events) -> dict[str, exp.Expr]:
        return {"v": self.pick(this=events.value)}

    def merge(self, left: Part, right: Part) -> dict[str, exp.Expr]:
        return {"v": exp.Anonymous(this=self.merge_with, expressions=[left("v"), right("v")])}

    def finish(self, part: Part) -> exp.Expr:
        return part("v")


class Min(_Extreme):
    """The least value."""

    name = "min"
    pick = exp.Min
    merge_with = "least"


class Max(_Extreme):
    """The greatest value."""

    name = "max"
    pick = exp.Max
    merge_with = "greatest"


class Stddev(AggregateFunction):
    """The sample standard deviation, a float64; null below two values. States are ``(n, mean, m2)``,
    combined by Chan et al.'s update."""

    name = "stddev"
    accepts: ClassVar[frozenset[ColumnKind]] = frozenset({"integer", "float"})
    sweep: ClassVar[Sweep] = "frame"
    state = (_COUNT, StatePart("mean", "float64"), StatePart("m2", "float64"))
    fixed_dtype: ClassVar[DType | None] = "float64"

    def aggregate(self, events: Events) -> exp.Expr:
        return exp.StddevSamp(this=exp.cast(events.value, "DOUBLE"))

    def state_of_events(self, events: Events) -> dict[str, exp.Expr]:
        value = exp.cast(events.value, "DOUBLE")
        m2 = exp.Mul(this=exp.VariancePop(this=value.copy()), expression=exp.Count(this=events.value.copy()))
        return {"n": exp.Count(this=events.value.copy()), "mean": exp.Avg(this=value), "m2": m2}

    def merge(self, left: Part, right: Part) -> dict[str, exp.Expr]:
        na, nb = count_or_zero(left), count_or_zero(right)
        n = exp.Paren(this=exp.Add(this=na.copy(), expression=nb.copy()))
        delta = exp.Paren(this=exp.Sub(this=right("mean"), expression=left("mean")))
        mean = exp.Add(
            this=left("mean"),
            expression=exp.Div(this=exp.Mul(this=delta.copy(), expression=nb.copy()), expression=n.copy()),
        )
        spread = exp.Mul(this=exp.Mul(this=delta.copy(), expression=delta.copy()), expression=na.copy())
        m2 = exp.Add(
            this=exp.Add(this=left("m2"), expression=right("m2")),
            expression=exp.Div(this=exp.Mul(this=spread, expression=nb.copy()), expression=n.copy()),
        )
        out: dict[str, exp.Expr] = {"n": merged_count(left, right)}
        for name, combined in (("mean", mean), ("m2", m2)):
            out[name] = exp.Case(
                ifs=[
                    exp.If(this=exp.EQ(this=na.copy(), expression=number(0)), true=right(name)),
                    exp.If(this=exp.EQ(this=nb.copy(), expression=number(0)), true=left(name)),
                ],
                default=combined,
            )
        return out

    def finish(self, part: Part) -> exp.Expr:
        count = count_or_zero(part)
        n_1 = exp.Paren(this=exp.Sub(this=count.copy(), expression=number(1)))
        variance = exp.Div(this=part("m2"), expression=n_1)
        positive = exp.Anonymous(this="greatest", expressions=[variance, number(0)])  # rounding below 0
        return exp.Case(
            ifs=[exp.If(this=exp.GT(this=count, expression=number(1)), true=exp.Sqrt(this=positive))]
        )


class Last(AggregateFunction):
    """The value of the latest event with a non-null value; ties on time go to the greatest created
    time (null lowest), then to the greatest value (the renderer's ``Events.latest`` orders them)."""

    name = "last"
    accepts = _VALUES
    sweep: ClassVar[Sweep] = "latest"
    state = (StatePart("l", "struct (t, c, v)"),)

    def aggregate(self, events: Events) -> exp.Expr:
        return exp.ArgMax(this=events.value, expression=events.latest)

    def event_filter(self, events: Events) -> exp.Expr | None:
        return not_null(events.value.copy())

    def state_of_events(self, events: Events) -> dict[str, exp.Expr]:
        latest = exp.Max(this=events.latest)
        return {"l": exp.Filter(this=latest, expression=exp.Where(this=not_null(events.value)))}

    def merge(self, left: Part, right: Part) -> dict[str, exp.Expr]:
        return {"l": exp.Anonymous(this="greatest", expressions=[left("l"), right("l")])}

    def finish(self, part: Part) -> exp.Expr:
        return exp.Anonymous(this="struct_extract", expressions=[part("l"), exp.Literal.string("v")])


class CountDistinct(AggregateFunction):
    """The number of distinct non-null values; states are the lists of distinct values."""

    name = "count_distinct"
    accepts = _VALUES
    sweep: ClassVar[Sweep] = "frame"
    state = (StatePart("d", "list of column"),)
    empty = 0
    fixed_dtype: ClassVar[DType | None] = "int64"

    def aggregate(self, events: Events) -> exp.Expr:
        return exp.Count(this=exp.Distinct(expressions=[events.value]))

    def state_of_events(self, events: Events) -> dict[str, exp.Expr]:
        values = exp.ArrayAgg(this=exp.Distinct(expressions=[events.value]))
        return {"d": exp.Filter(this=values, expression=exp.Where(this=not_null(events.value.copy())))}

    def merge(self, left: Part, right: Part) -> dict[str, exp.Expr]:
        sides = [exp.Coalesce(this=p("d"), expressions=[exp.Array(expressions=[])]) for p in (left, right)]
        both = exp.Anonymous(this="list_concat", expressions=sides)
        return {"d": exp.Anonymous(this="list_distinct", expressions=[both])}

    def finish(self, part: Part) -> exp.Expr:
        return self.or_empty(exp.Anonymous(this="len", expressions=[part("d")]))


FUNCTIONS: dict[str, AggregateFunction] = {
    f.name: f for f in (Count(), Sum(), Mean(), Min(), Max(), Stddev(), Last(), CountDistinct())
}
"""Every aggregate function by name, in the order error messages list them."""


def unknown_function(name: str) -> str:
    """What is wrong with an unknown function name, with the closest known one.

    >>> print(unknown_function("avg"))  # doctest: +NORMALIZE_WHITESPACE
    unknown function 'avg': did you mean 'mean'? known: count, sum, mean, min, max, stddev, last,
    count_distinct
    """
    close = difflib.get_close_matches(str(name), FUNCTIONS, n=1)
    if name in ("avg", "average"):
        close = ["mean"]
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown function {name!r}: {hint}known: {', '.join(FUNCTIONS)}"


def function(name: str) -> AggregateFunction:
    """The aggregate function called ``name``.

    >>> function("count_distinct").empty, function("mean").sweep
    (0, 'running')
    """
    try:
        return FUNCTIONS[name]
    except KeyError:
        raise DefinitionError(unknown_function(name)) from None
