"""Spark SQL for materializing windowed aggregations (``AggregatesAt``): every aggregate per entity as of
one time ``T``, one GROUP BY over the events that can matter, as ``sql/window_latest.py`` does for DuckDB
(same statements, same columns and types, so ``materialize/aggregates.py`` runs either unchanged).

Windowed aggregates read the events in ``(T - longest window, T]`` with a FILTER per window. Lifetime
aggregates are partial states that merge (each function's ``state`` in ``featurestore/aggregates``, the
DuckDB-named functions of their SQL renamed by ``spark_window.spark_functions``), stored as Parquet
between runs and read back with Spark's reader; ``last``'s state is ``struct(t, c, v)`` with naive UTC
times (``spark_window.latest_struct``), so states are read by the engine that wrote them. A view with
``exclude_current_time`` compares with ``T`` and the marks half-open, as ``sql/window_latest.py`` says.
"""

from __future__ import annotations

from datetime import datetime

from sqlglot import exp

from featurestore.aggregates.base import Part
from featurestore.plan.nodes import SourceScan
from featurestore.plan.window import AggregatesAt, WindowedValue, longest
from featurestore.sql.spark import (
    CREATED,
    TS,
    FileRead,
    SparkDialect,
    _refuse_nanoseconds,
    after_mark,
    before_end,
    bound,
    col,
    ident,
    ntz,
    scan_select,
    source_table,
    ts_literal,
)
from featurestore.sql.spark_window import cast_output, plain_aggregate, spark_events, spark_functions
from featurestore.sql.window_marks import EventReads, value_lower


def _table(name: str, alias: str | None = None) -> exp.Table:
    return exp.Table(this=ident(name), alias=exp.TableAlias(this=ident(alias)) if alias else None)


def _events_in_bounds(scan: SourceScan, columns: list[str]) -> exp.Select:
    """The scan's rows as a subquery, so that filters can name ``__ts`` and ``__created`` (Spark's
    WHERE sees no aliases)."""
    _refuse_nanoseconds(scan, ())
    rows = scan_select(scan, columns)
    return exp.select("*").from_(exp.Subquery(this=rows, alias=exp.TableAlias(this=ident("e"))))


READS = EventReads(
    events=_events_in_bounds,
    after=lambda scan, lower: after_mark(scan)(this=col(TS), expression=ts_literal(lower)),
    ts_literal=ts_literal,
)


def _name(i: int, part: str) -> str:
    return f"__p{i}_{part}"


def _side(i: int, side: str) -> Part:
    return lambda part: col(_name(i, part), side)


def _states(plan: AggregatesAt, source: str) -> exp.Select:
    """Per key, the partial state of each lifetime aggregate over the rows of ``source``."""
    states: list[exp.Expr] = []
    for i, a in enumerate(plan.aggregates):
        if a.window is None:
            parts = a.fn.state_of_events(spark_events(a, a.column))
            states += [exp.alias_(spark_functions(parts[p]), _name(i, p), quoted=True) for p in a.fn.parts]
    keys = [col(k) for k in plan.keys]
    return exp.select(*keys, *states).from_(_table(source)).group_by(*[k.copy() for k in keys])


def _merge(plan: AggregatesAt, stored: str, fresh: str) -> exp.Select:
    """Two states per key side by side (FULL OUTER JOIN), merged."""
    merged: list[exp.Expr] = []
    for i, a in enumerate(plan.aggregates):
        if a.window is None:
            parts = a.fn.merge(_side(i, "o"), _side(i, "f"))
            merged += [exp.alias_(spark_functions(parts[p]), _name(i, p), quoted=True) for p in a.fn.parts]
    keys = [
        exp.alias_(exp.Coalesce(this=col(k, "o"), expressions=[col(k, "f")]), k, quoted=True)
        for k in plan.keys
    ]
    on = exp.and_(*[exp.EQ(this=col(k, "o"), expression=col(k, "f")) for k in plan.keys])
    return (
        exp.select(*keys, *merged)
        .from_(_table(stored, "o"))
        .join(_table(fresh, "f"), on=on, join_type="FULL OUTER")
    )


def _stored(path: str) -> exp.Select:
    read = FileRead(this=exp.Literal.string(path), format=exp.Var(this="parquet"))
    return exp.select("*").from_(exp.Table(this=read))


def _with(query: exp.Select, ctes: list[tuple[str, exp.Expr]]) -> exp.Select:
    for name, body in ctes:
        query = query.with_(ident(name), as_=body)
    return query


def render_partials(plan: AggregatesAt) -> str:
    """The lifetime aggregates' states per entity as of ``plan.frozen.as_of``, for every entity."""
    base = plan.base
    ctes: list[tuple[str, exp.Expr]] = [("fe", READS.fresh_events(plan)), ("fs", _states(plan, "fe"))]
    if base is not None:
        ctes += [("old", _stored(base.path)), ("merged", _merge(plan, "old", "fs"))]
    query = exp.select("*").from_(_table("fs" if base is None else "merged"))
    return _with(query, ctes).sql(dialect=SparkDialect, pretty=True)


def _changed(plan: AggregatesAt, since: datetime, new_since: datetime) -> exp.Expr:
    """Events that change an entity's aggregates between ``since`` and ``end``: new ones, and those
    that left a window (``since - w < ts <= end - w``)."""
    after = after_mark(plan.scan)  # at the mark too, when that run left out its end's events
    conditions: list[exp.Expr] = [after(this=col(TS), expression=ts_literal(new_since))]
    for window in sorted({a.window for a in plan.windowed if a.window is not None}):
        left = exp.and_(
            exp.GT(this=col(TS), expression=ts_literal(since - window)),
            exp.LTE(this=col(TS), expression=ts_literal(plan.end - window)),
        )
        conditions.append(exp.Paren(this=left))
    return exp.or_(*conditions)


def _windowed(a: WindowedValue, end: datetime) -> exp.Expr:
    """A windowed aggregate over the rows of ``ev`` (aliased ``v``) in ``(end - window, end]``."""
    assert a.window is not None  # only windowed aggregates come here
    agg = plain_aggregate(a, spark_events(a, a.column, "v"))
    recent = exp.GT(this=col(TS, "v"), expression=ts_literal(end - a.window))
    if isinstance(agg, exp.Filter):  # the function's own FILTER, and the window's
        where = agg.expression.this
        agg = exp.Filter(this=agg.this, expression=exp.Where(this=exp.and_(where, recent)))
    else:
        agg = exp.Filter(this=agg, expression=exp.Where(this=recent))
    return a.fn.or_empty(agg)


def render_aggregates_at(plan: AggregatesAt) -> str:
    """Keys, ``__event_ts`` (= ``end``) and every aggregate, for the entities ``plan`` selects."""
    windowed, lifetime = plan.windowed, plan.lifetime
    columns = list(dict.fromkeys(a.column for a in plan.aggregates))
    ctes: list[tuple[str, exp.Expr]] = [
        ("ev", READS.between(plan.scan, columns, value_lower(plan), plan.end))
    ]
    keys = [col(k) for k in plan.keys]
    touched: exp.Query = exp.select(*keys).distinct().from_(_table("ev"))
    if plan.since is not None and plan.new_since is not None:
        touched = touched.where(_changed(plan, plan.since, plan.new_since))
    elif plan.start is not None:
        touched = touched.where(exp.GTE(this=col(TS), expression=ts_literal(plan.start)))
    if plan.late_created is not None and plan.scan.created_field:
        late = exp.select(*[k.copy() for k in keys]).from_(
            READS.late(plan.scan, [], plan.end, plan.late_created).subquery("l")
        )
        touched = exp.union(touched, late, distinct=True)
    ctes.append(("touched", touched))
    query = exp.select(*[col(k, "k") for k in plan.keys]).from_(_table("touched", "k"))
    outputs: dict[str, exp.Expr] = {}
    if windowed:
        window = longest(windowed)
        assert window is not None  # windowed aggregates only
        values = [exp.alias_(_windowed(a, plan.end), f"__w{i}", quoted=True) for i, a in enumerate(windowed)]
        recent = exp.GT(this=col(TS, "v"), expression=ts_literal(plan.end - window))
        body = (
            exp.select(*keys, *values)
            .from_(_table("ev", "v"))
            .where(recent)
            .group_by(*[k.copy() for k in keys])
        )
        ctes.append(("win", body))
        on = exp.and_(*[exp.EQ(this=col(k, "k"), expression=col(k, "w")) for k in plan.keys])
        query = query.join(_table("win", "w"), on=on, join_type="LEFT")
        for i, a in enumerate(windowed):
            outputs[a.output] = a.fn.or_empty(col(f"__w{i}", "w"))  # no event in the window
    if lifetime:
        newer: exp.Query = exp.select("*").from_(_table("ev"))
        if plan.frozen is not None:
            after = after_mark(plan.scan)  # the states hold the events before their time, or up to it
            newer = newer.where(after(this=col(TS), expression=ts_literal(plan.frozen.as_of)))
            if plan.scan.created_field:  # events the states do not hold: created after their mark
                unknown = READS.late(plan.scan, columns, plan.frozen.as_of, plan.frozen.created_mark)
                newer = exp.union(newer, unknown, distinct=False)
        ctes += [("ne", newer), ("ns", _states(plan, "ne"))]
        if plan.frozen is not None:
            ctes += [("old", _stored(plan.frozen.path)), ("life", _merge(plan, "old", "ns"))]
        else:
            ctes.append(("life", exp.select("*").from_(_table("ns"))))
        on = exp.and_(*[exp.EQ(this=col(k, "k"), expression=col(k, "p")) for k in plan.keys])
        query = query.join(_table("life", "p"), on=on, join_type="LEFT")
        for i, a in enumerate(plan.aggregates):
            if a.window is None:
                outputs[a.output] = spark_functions(a.fn.finish(_side(i, "p")))
    query = query.select(
        exp.alias_(exp.cast(ts_literal(plan.end), "TIMESTAMP"), "__event_ts", quoted=True),
        *[exp.alias_(cast_output(outputs[a.output], a), a.output, quoted=True) for a in plan.aggregates],
    )
    return _with(query, ctes).sql(dialect=SparkDialect, pretty=True)


def render_created_mark(scan: SourceScan, upper: datetime, after: datetime | None) -> str:
    """The greatest created time among the events with ``ts <= upper`` created after ``after``."""
    rows = exp.Subquery(this=READS.late(scan, [], upper, after), alias=exp.TableAlias(this=ident("r")))
    query = exp.select(exp.alias_(exp.Max(this=col(CREATED)), "max_created", quoted=True)).from_(rows)
    return query.sql(dialect=SparkDialect)


def render_aggregate_stats(plan: AggregatesAt) -> str:
    """Rows the value query considers, rows skipped for a null key or event time, the greatest created
    time among them, and the created mark of the new partial states (``plan.frozen.created_mark``)."""
    scan = plan.scan
    ts = col(scan.timestamp_field)
    nulls = exp.or_(*[exp.Is(this=c, expression=exp.null()) for c in [*[col(k) for k in plan.keys], ts]])
    in_range: list[exp.Expr] = [bound(scan, before_end(scan), plan.end)]
    lower = value_lower(plan)
    if lower is not None:
        in_range.append(bound(scan, after_mark(scan), lower))
    created: exp.Expr = ntz(col(scan.created_field)) if scan.created_field else ntz(exp.null())
    partials_created: exp.Expr = ntz(exp.null())
    if plan.frozen is not None and plan.frozen.created_mark is not None and scan.created_field:
        partials_created = ts_literal(plan.frozen.created_mark)
    columns = list(dict.fromkeys([*plan.keys, scan.timestamp_field, *filter(None, [scan.created_field])]))
    query = exp.select(
        exp.alias_(exp.Count(this=exp.Star()), "rows_read", quoted=True),
        exp.alias_(exp.Sum(this=exp.cast(nulls, "INT")), "rows_skipped", quoted=True),
        exp.alias_(exp.Max(this=created), "max_created", quoted=True),
        exp.alias_(partials_created, "partials_created", quoted=True),
    ).from_(source_table(scan, columns))
    where = exp.or_(exp.Is(this=col(scan.timestamp_field), expression=exp.null()), exp.and_(*in_range))
    return query.where(where).sql(dialect=SparkDialect)
