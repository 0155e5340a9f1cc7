"""Partial states of lifetime aggregates (``sql/window_latest.py``): each function's mergeable summary of
a set of events, as columns ``__p<i>_<part>`` of a row per entity. Made from events
(``state_of_events``, under a GROUP BY), combined two by two (``merged_state``, either side may be
missing), and turned into the aggregate's value (``finished``). Each function says what its state is
and how (``featurestore/aggregates``, ``AggregateFunction.state``); this module names the columns:

    count ``n`` | sum ``s`` | mean ``(n, s)`` | min/max ``v`` | stddev ``(n, mean, m2)`` (Chan's update)
    last ``l``: the greatest ``(ts, created, value)`` struct | count_distinct ``d``: the distinct values

The ``last`` struct holds nanoseconds since the epoch for a nanosecond source's times (``latest_key``),
so states of such a source taken before its times were compared exactly are not reused
(``registry/partials.py``).
"""

from __future__ import annotations

from sqlglot import exp

from featurestore.aggregates.base import Part
from featurestore.plan.nodes import SourceScan
from featurestore.plan.window import WindowedValue
from featurestore.sql.duckdb import col
from featurestore.sql.window import events_of


def _state_name(i: int, part: str) -> str:
    return f"__p{i}_{part}"


def _side(i: int, side: str) -> Part:
    """The parts of aggregate ``i``'s state, as columns of table ``side``."""
    return lambda part: col(_state_name(i, part), side)


def state_of_events(i: int, a: WindowedValue, scan: SourceScan) -> list[exp.Expr]:
    """Aggregates over event rows of ``scan`` (``window_events``, under a ``GROUP BY`` of the keys) that
    make the partial state of aggregate ``i``."""
    parts = a.fn.state_of_events(events_of(a, scan))
    return [exp.alias_(parts[p], _state_name(i, p), quoted=True) for p in a.fn.parts]


def merged_state(i: int, a: WindowedValue, left: str, right: str) -> list[exp.Expr]:
    """The state of aggregate ``i`` from two states (either may be missing: NULL)."""
    parts = a.fn.merge(_side(i, left), _side(i, right))
    return [exp.alias_(parts[p], _state_name(i, p), quoted=True) for p in a.fn.parts]


def finished(i: int, a: WindowedValue, side: str) -> exp.Expr:
    """An aggregate's value from its state."""
    return a.fn.finish(_side(i, side))
