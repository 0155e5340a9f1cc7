"""Spark SQL for windowed aggregations in training sets (``WindowAggregate``), lowered to a sweep.

Spark has no as-of join and a range join (entity rows x events) is quadratic on long histories, so the
entity rows are interleaved with the view's events instead: one union, partitioned by the join keys and
ordered by the time in microseconds since the epoch (``__at``, a BIGINT). Each aggregate is a window
function over a RANGE frame read off at the entity rows (whose values are null, so they add nothing):

* a window ``w``: ``RANGE BETWEEN (w_us - 1) PRECEDING AND CURRENT ROW``, exactly ``(t - w, t]`` at
  microsecond precision (``CURRENT ROW`` takes in its peers: the events at ``t``);
* the lifetime: ``RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW``.

A view with ``exclude_current_time`` places each event 1µs after its time (``sweep_time``: an event at
``t`` comes after the entity rows at ``t``, so ``CURRENT ROW`` leaves it out) and reaches 1µs less far
back (``(w_us - 2) PRECEDING``, the lower edge unchanged): exactly ``(t - w, t)``.

Each function gives its own aggregate (``AggregateFunction.aggregate`` over ``spark_events``): count,
sum, mean, min, max, ``stddev_samp``; ``last`` as ``max_by(value, struct(ts, created, value))`` over the
events with a non-null value (Spark orders structs field by field, nulls lowest: the ``last`` tie rule).
What Spark cannot run over a frame is replaced per function in ``FRAME_AGGREGATES``: count_distinct, a
DISTINCT aggregate, is ``size(collect_set(value))``, which holds the frame's distinct values in memory
per row (fine for windows of thousands of values, costly for lifetimes of millions of distinct ones).
Spark recomputes a sliding frame from its rows as it moves, so a window's float sum is the plain sum
of that window's own values (not a difference of running totals), within a relative 1e-9 of DuckDB's
exact sum for well-conditioned data; integer sums are exact.

Entity rows with a null key or time take part in no sweep: their aggregates are empty (count 0, others
null). ``as_known_at`` (an event is known once ``created <= t``) orders the sweep by the later of event
and created time; that is exact for lifetime aggregates only (a window's lower edge is on the event
time, which a frame over that order cannot test), so windowed ones are refused with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlglot import exp

from featurestore.aggregates import AggregateFunction, Events
from featurestore.aggregates.functions import CountDistinct
from featurestore.errors import FeatureStoreError
from featurestore.plan.window import WindowAggregate, WindowedValue
from featurestore.sql.spark import (
    CREATED,
    ENTITY_TS,
    ROW_ID,
    SPARK_TYPES,
    TS,
    _refuse_nanoseconds,
    col,
    ident,
    ntz,
    scan_select,
    sweep_time,
)

ONE_US = timedelta(microseconds=1)
AT = "__at"  # the sweep's order: microseconds since the epoch

Over = Callable[[exp.Expr], exp.Expr]
"""An aggregate -> that aggregate over the window frame (``agg OVER (...)``)."""

FRAME_AGGREGATES: dict[type[AggregateFunction], Callable[[Events, Over], exp.Expr]] = {
    CountDistinct: lambda events, over: exp.ArraySize(
        this=over(exp.Anonymous(this="collect_set", expressions=[events.value]))
    ),
}
"""Functions whose ``aggregate`` Spark cannot run over a window frame (DISTINCT), and what runs instead:
given the events and ``over``, an expression of aggregates over the frame."""

SPARK_FUNCTIONS: dict[str, str] = {"list_concat": "concat", "list_distinct": "array_distinct", "len": "size"}
"""The DuckDB names the aggregate functions' state SQL uses, and Spark's (``spark_functions``)."""


def spark_functions(tree: exp.Expr) -> exp.Expr:
    """``tree`` with the DuckDB functions of the aggregates' state SQL renamed to Spark's, and
    ``struct_extract(s, 'f')`` as ``s.f``.

    >>> from sqlglot import parse_one
    >>> tree = parse_one("SELECT list_distinct(list_concat(a, b)), struct_extract(l, 'v')")
    >>> spark_functions(tree).sql("spark")
    'SELECT ARRAY_DISTINCT(CONCAT(a, b)), l.v'
    >>> spark_functions(exp.Anonymous(this="len", expressions=[exp.column("d")])).sql("spark")
    'SIZE(d)'
    """

    tree = tree.copy()
    for node in list(tree.find_all(exp.Anonymous)):
        name = node.name.lower()
        if name in SPARK_FUNCTIONS:
            node.set("this", SPARK_FUNCTIONS[name])
        elif name == "struct_extract":
            struct, field = node.expressions
            dot = exp.Dot(this=struct.copy(), expression=ident(field.name))
            if node is tree:
                return dot
            node.replace(dot)
    return tree


def micros(value: exp.Expr) -> exp.Expr:
    """A naive UTC time as microseconds since the epoch (the session zone is UTC)."""
    return exp.Anonymous(this="unix_micros", expressions=[exp.cast(value, "TIMESTAMP")])


def summand(a: WindowedValue, value: exp.Expr) -> exp.Expr:
    """What sum and mean add up: booleans as 0/1."""
    return exp.cast(value, "INT") if a.column_type == "bool" else value


def latest_struct(value: exp.Expr, table: str | None = None) -> exp.Expr:
    """``struct(t, c, v)`` of an event with a non-null value (else null): ``last``'s order, as the
    partial states store it (time, created time with null lowest, value)."""
    fields = [("t", col(TS, table)), ("c", col(CREATED, table)), ("v", value.copy())]
    struct = exp.Struct(expressions=[exp.PropertyEQ(this=ident(n), expression=v) for n, v in fields])
    present = exp.Not(this=exp.Is(this=value, expression=exp.null()))
    return exp.Case(ifs=[exp.If(this=present, true=struct)])


def spark_events(a: WindowedValue, column: str, table: str | None = None) -> Events:
    """What ``a``'s function aggregates, over rows holding its column as ``column`` and ``__ts`` /
    ``__created`` (naive UTC)."""
    value = col(column, table)
    return Events(
        value=value,
        total=exp.Sum(this=summand(a, value.copy())),
        average=exp.Avg(this=summand(a, value.copy())),
        latest=latest_struct(value.copy(), table),
        output_type=SPARK_TYPES[a.dtype],
    )


def plain_aggregate(a: WindowedValue, events: Events) -> exp.Expr:
    """``a``'s function as one aggregate over event rows, with its own FILTER if it needs one."""
    agg = a.fn.aggregate(events)
    only = a.fn.event_filter(events)
    if only is not None:
        agg = exp.Filter(this=agg, expression=exp.Where(this=only))
    return spark_functions(agg)


def framed_aggregate(a: WindowedValue, events: Events, over: Over) -> exp.Expr:
    """``a``'s function over a window frame (``over`` wraps an aggregate in it): ``FRAME_AGGREGATES``
    first, else ``plain_aggregate``."""
    replace = FRAME_AGGREGATES.get(type(a.fn))
    if replace is not None:
        return spark_functions(replace(events, over))
    return over(plain_aggregate(a, events))


def cast_output(value: exp.Expr, a: WindowedValue) -> exp.Expr:
    return exp.cast(value, exp.DataType.build(SPARK_TYPES[a.dtype], dialect="spark"))


def _frame(a: WindowedValue, exclude_current_time: bool) -> exp.WindowSpec:
    if a.window is None:
        return exp.WindowSpec(kind="RANGE", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW")
    reach = a.window // ONE_US - 1  # (t - w, t] in whole microseconds
    if exclude_current_time:  # events stand 1µs after their time (``sweep_time``): the same lower edge
        reach -= 1
    return exp.WindowSpec(
        kind="RANGE", start=exp.Literal.number(reach), start_side="PRECEDING", end="CURRENT ROW"
    )


def _refuse_windows_known_at(node: WindowAggregate) -> None:
    windowed = [a.name for a in node.aggregates if a.window is not None]
    if windowed:
        raise FeatureStoreError(
            f"feature view {node.view!r}: as_known_at=True with windowed aggregations "
            f"({', '.join(windowed)}) is not supported on the spark engine: a window's lower edge is on "
            "the event time while events are known by their created time, which a sweep cannot test "
            "without a range join; use lifetime aggregates, as_known_at=False, or the DuckDB engine"
        )


def render_window_aggregate(node: WindowAggregate, entity_table: str) -> exp.Select:
    """``__row_id`` and one column per aggregate, exactly one row per entity row (module docstring)."""
    _refuse_nanoseconds(node.scan, ())
    if node.as_known_at:
        _refuse_windows_known_at(node)
    columns = list(dict.fromkeys(a.column for a in node.aggregates))
    value_of = {c: f"__c{j}" for j, c in enumerate(columns)}
    keys = [col(k) for k in node.keys]
    rows = scan_select(node.scan, columns)
    at: exp.Expr = sweep_time(node.scan, col(TS))
    if node.as_known_at and node.scan.created_field:
        # A null created time is not known to be <= t: such an event is never known.
        rows = rows.where(exp.Not(this=exp.Is(this=col(node.scan.created_field), expression=exp.null())))
        at = exp.Greatest(this=at, expressions=[col(CREATED)])
    events = exp.select(
        *keys,
        exp.alias_(micros(at), AT, quoted=True),
        exp.alias_(exp.cast(exp.null(), "BIGINT"), ROW_ID, quoted=True),
        col(TS),
        col(CREATED),
        *[exp.alias_(col(c), value_of[c], quoted=True) for c in columns],
    ).from_(exp.Subquery(this=rows, alias=exp.TableAlias(this=ident("v"))))
    present = [exp.Not(this=exp.Is(this=c, expression=exp.null())) for c in [col(ENTITY_TS), *keys]]
    probes = (
        exp.select(
            *[k.copy() for k in keys],
            exp.alias_(micros(ntz(col(ENTITY_TS))), AT, quoted=True),
            col(ROW_ID),
            exp.alias_(exp.null(), TS, quoted=True),
            exp.alias_(exp.null(), CREATED, quoted=True),
            *[exp.alias_(exp.null(), value_of[c], quoted=True) for c in columns],
        )
        .from_(exp.Table(this=ident(entity_table)))
        .where(exp.and_(*present))
    )
    union = exp.union(events, probes, distinct=False)
    swept: list[exp.Expr] = [col(ROW_ID)]
    for k, a in enumerate(node.aggregates):

        def over(agg: exp.Expr, a: WindowedValue = a) -> exp.Expr:
            order = exp.Order(expressions=[exp.Ordered(this=col(AT))])
            partition = [key.copy() for key in keys]
            spec = _frame(a, node.scan.exclude_current_time)
            return exp.Window(this=agg, partition_by=partition, order=order, spec=spec)

        value = framed_aggregate(a, spark_events(a, value_of[a.column]), over)
        swept.append(exp.alias_(value, f"__a{k}", quoted=True))
    sweep = exp.select(*swept).from_(exp.Subquery(this=union, alias=exp.TableAlias(this=ident("u"))))
    at_rows = (
        exp.select("*")
        .from_(exp.Subquery(this=sweep, alias=exp.TableAlias(this=ident("w"))))
        .where(exp.Not(this=exp.Is(this=col(ROW_ID), expression=exp.null())))
    )
    values = [
        exp.alias_(cast_output(a.fn.or_empty(col(f"__a{k}", "s")), a), a.output, quoted=True)
        for k, a in enumerate(node.aggregates)
    ]
    return (
        exp.select(col(ROW_ID, "e"), *values)
        .from_(exp.Table(this=ident(entity_table), alias=exp.TableAlias(this=ident("e"))))
        .join(
            exp.Subquery(this=at_rows, alias=exp.TableAlias(this=ident("s"))),
            on=exp.EQ(this=col(ROW_ID, "s"), expression=col(ROW_ID, "e")),
            join_type="LEFT",
        )
    )
