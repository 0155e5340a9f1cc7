"""What an aggregate function is: ``AggregateFunction``, and the inputs a renderer hands it.

A function says which columns it takes (by kind), what type it returns, how the training-set sweep
computes it over a window (``sweep``), and how it is computed from event rows as SQL expressions (sqlglot
trees): as one plain aggregate (``aggregate``), and as a mergeable *partial state* (``state``: named
parts; ``state_of_events``, ``merge``, ``finish``), the shape of Chronon's aggregators (prepare/update,
merge, finalize). What differs between dialects (compensated float sums, the order ``last`` picks by)
comes in from the renderer through ``Events``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from sqlglot import exp

if TYPE_CHECKING:
    # Typing only: featurestore.dsl imports this package when it loads, so a runtime import would cycle.
    from featurestore.dsl.dtypes import DType

ColumnKind = Literal["integer", "float", "bool", "string", "bytes", "timestamp", "date", "other"]
"""What an aggregated column holds (``dsl.aggregation.column_kind`` classifies a source type)."""

Sweep = Literal["running", "frame", "latest"]
"""How the training-set sweep computes a function over ``(t - w, t]``:

* ``running``: the difference of a key's running totals (the state parts ``n`` and ``s``) at ``t`` and
  ``t - w``; the function says how to finish the two differences (``from_totals``).
* ``frame``: ``aggregate`` over a range frame of the events before each entity row.
* ``latest``: the latest event with a non-null value at or before ``t``, kept if after ``t - w``.
"""

Part = Callable[[str], exp.Expr]
"""A state's part by name, as a column of some row: ``part("n")`` (a fresh expression on each call)."""


@dataclass(frozen=True)
class StatePart:
    """One column of a partial state: its name and what it holds (its type in words: ``int64``,
    ``float64``, ``output`` for the function's output type, ``column`` for the aggregated column's,
    ``list of column``, or ``struct (t, c, v)`` for ``last``'s latest event)."""

    name: str
    holds: str


@dataclass(frozen=True)
class Events:
    """Expressions over event rows, built by a renderer for one aggregate (each used once: copy it).

    ``value``: the aggregated column. ``total`` and ``average``: its sum and mean as one aggregate, as
    the dialect makes them exact or compensated (booleans count as 0/1). ``latest``: the struct that
    orders events for ``last`` (time, created, value). ``output_type``: the aggregate's output type,
    as the dialect names it.
    """

    value: exp.Expr
    total: exp.Expr
    average: exp.Expr
    latest: exp.Expr
    output_type: str


def not_null(value: exp.Expr) -> exp.Expr:
    """``NOT value IS NULL``."""
    return exp.Not(this=exp.Is(this=value, expression=exp.null()))


def number(value: int) -> exp.Expr:
    return exp.Literal.number(value)


class AggregateFunction(ABC):
    """One aggregate function. Subclasses set the class attributes and the SQL of their state.

    Nulls in the aggregated column are ignored. ``empty`` is the value over no (non-null) values: 0 for
    counts, None (null) otherwise.
    """

    name: ClassVar[str]
    accepts: ClassVar[frozenset[ColumnKind]]
    sweep: ClassVar[Sweep]
    state: ClassVar[tuple[StatePart, ...]]
    empty: ClassVar[int | None] = None
    fixed_dtype: ClassVar[DType | None] = None  # the output dtype when the column does not matter

    def __repr__(self) -> str:
        return f"<aggregate function {self.name}>"

    @property
    def parts(self) -> tuple[str, ...]:
        """The names of the state's parts, in order."""
        return tuple(p.name for p in self.state)

    def output_dtype(self, kind: ColumnKind, column_dtype: DType | None) -> DType:
        """The output dtype over a column of ``kind`` whose values have ``column_dtype`` (None: none
        fits). Only for kinds the function accepts; by default the column's own type."""
        if self.fixed_dtype is not None:
            return self.fixed_dtype
        if column_dtype is None:
            raise ValueError(f"{self.name} of a {kind} column: it has no feature dtype to keep")
        return column_dtype

    def accepted_kinds(self) -> str:
        """A phrase for error messages: the kinds of column accepted (``other`` left unsaid)."""
        kinds = sorted(self.accepts - {"other"})
        return ", ".join(kinds[:-1]) + f" or {kinds[-1]}" if len(kinds) > 1 else kinds[0]

    @abstractmethod
    def aggregate(self, events: Events) -> exp.Expr:
        """The function as one aggregate over event rows (a GROUP BY, a range join, a range frame)."""

    def event_filter(self, events: Events) -> exp.Expr | None:
        """A condition ``aggregate`` needs on the rows it sees (in its FILTER), if any."""
        return None

    def or_empty(self, value: exp.Expr) -> exp.Expr:
        """``value``, or the empty value where it is null (no event)."""
        if self.empty is None:
            return value
        return exp.Coalesce(this=value, expressions=[number(self.empty)])

    @abstractmethod
    def state_of_events(self, events: Events) -> dict[str, exp.Expr]:
        """Each part of the state of a group of event rows (aggregates, under a GROUP BY)."""

    @abstractmethod
    def merge(self, left: Part, right: Part) -> dict[str, exp.Expr]:
        """Each part of the state of two states together; either side may be missing (all null)."""

    @abstractmethod
    def finish(self, part: Part) -> exp.Expr:
        """The function's value from its state (null or missing state: the empty value)."""

    def from_totals(self, count: exp.Expr, total: exp.Expr | None) -> exp.Expr:
        """``running`` sweep: the value from a window's non-null ``count`` and ``total`` (the sum of the
        values; None when the state has no ``s``), each a difference of running totals."""
        raise TypeError(f"{self.name} is swept as {self.sweep!r}, not from running totals")


# Merges of the parts several functions share.


def merged_count(left: Part, right: Part) -> exp.Expr:
    """``n``: the two counts added, a missing one as 0."""
    return exp.Add(this=count_or_zero(left), expression=count_or_zero(right))


def count_or_zero(part: Part) -> exp.Expr:
    return exp.Coalesce(this=part("n"), expressions=[number(0)])


def merged_sum(left: Part, right: Part) -> exp.Expr:
    """``s``: the two sums added; a null sum (no values) is left out."""
    l_s, r_s = left("s"), right("s")
    return exp.Case(
        ifs=[
            exp.If(this=exp.Is(this=l_s, expression=exp.null()), true=r_s.copy()),
            exp.If(this=exp.Is(this=r_s.copy(), expression=exp.null()), true=l_s.copy()),
        ],
        default=exp.Add(this=l_s.copy(), expression=r_s.copy()),
    )
