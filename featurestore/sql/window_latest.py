"""DuckDB SQL for materializing windowed aggregations (``AggregatesAt``): every aggregate per entity as
of one time ``T``, one GROUP BY over the events that can matter.

Windowed aggregates read the events in ``(T - longest window, T]`` with a FILTER per window
(``ts > T - window``). Event times are compared as the training-set sweep does (``sql/window.py``): a
test ``ts <= m`` or ``ts > m`` against a microsecond ``m`` is made on the time rounded up to the
microsecond (``time_names(scan).ts_up``), a test ``ts >= m`` on the time rounded down (``__ts``), both
exact for nanosecond sources. Lifetime aggregates are kept as *partial states* that merge
(``sql/window_states.py``; each function's ``state`` in ``featurestore/aggregates``): count ``n``, sum
``s``, min/max ``v``, stddev ``(n, mean, m2)``, last as the greatest ``(ts, created, value)`` struct,
count_distinct as the list of distinct values. ``render_partials`` writes the states as of
``frozen.as_of`` (the stored states of the previous run merged with the events since, and late arrivals),
holding the events created by ``frozen.created_mark``; ``render_aggregates_at`` merges those with the
events after ``frozen.as_of`` and the ones created after the mark, and finishes them. With no stored
states, every event up to the time is read once. Float sums are compensated (``fsum``), so their error
stays relative to the values summed.

A view with ``exclude_current_time`` leaves out the events at ``T``: every comparison with ``T`` and
with the marks of earlier runs (their ends, the partial states' time) is half-open (``ts < m``,
``ts >= m``, on the time rounded down), so partial states taken at ``m`` hold the events before ``m``
and the next run reads those at ``m``; a window's lower edge stays ``ts > T - w``.

    state(events)  --merge-->  stored state (Parquet)  --merge with newer events-->  value at T
"""

from __future__ import annotations

from datetime import datetime

from sqlglot import exp

from featurestore.plan.nodes import SourceScan
from featurestore.plan.window import AggregatesAt, longest
from featurestore.sql.duckdb import (
    CREATED,
    DIALECT,
    TS,
    as_micros,
    col,
    ident,
    source_table,
    time_names,
    ts_literal,
)
from featurestore.sql.duckdb_types import DUCKDB_TYPES
from featurestore.sql.timestamps import PLAN_TIME, after_op, bound, upper_op
from featurestore.sql.window import _after_lower_edge, direct_aggregate, window_events
from featurestore.sql.window_marks import EventReads, value_lower
from featurestore.sql.window_states import finished, merged_state, state_of_events


def _at(value: datetime) -> exp.Expr:
    return ts_literal(value, PLAN_TIME)


def _table(name: str, alias: str | None = None) -> exp.Table:
    return exp.Table(this=ident(name), alias=exp.TableAlias(this=ident(alias)) if alias else None)


# The event reads (``window_marks``): a lower bound tested on the source column at its own precision.
READS = EventReads(
    events=window_events,
    after=lambda scan, lower: bound(col(scan.timestamp_field), scan.timestamp_type, after_op(scan), lower),
    ts_literal=_at,
)


def _after_mark(scan: SourceScan, mark: datetime) -> exp.Expr:
    """An event of ``ev`` is after a run's end or mark: ``ts > m`` (rounded up), or ``ts >= m`` (rounded
    down) for a view excluding events at a run's end, which that run left out."""
    if scan.exclude_current_time:
        return exp.GTE(this=col(TS), expression=_at(mark))
    return exp.GT(this=col(time_names(scan).ts_up), expression=_at(mark))


def _group_states(plan: AggregatesAt, source: str) -> exp.Select:
    states = [
        e for i, a in enumerate(plan.aggregates) if a.window is None for e in state_of_events(i, a, plan.scan)
    ]
    keys = [col(k) for k in plan.keys]
    return exp.select(*keys, *states).from_(_table(source)).group_by(*[k.copy() for k in keys])


def _merge_states(plan: AggregatesAt, stored: str, fresh: str) -> exp.Select:
    """Two states per key side by side (FULL OUTER JOIN), merged."""
    merged = [
        e for i, a in enumerate(plan.aggregates) if a.window is None for e in merged_state(i, a, "o", "f")
    ]
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


def _stored(path: str) -> exp.Expr:
    return exp.Table(this=exp.Anonymous(this="read_parquet", expressions=[exp.Literal.string(path)]))


def _unknown_to_partials(plan: AggregatesAt, columns: list[str]) -> exp.Select | None:
    """Events the partial states do not hold although ``ts <= frozen.as_of``: created after
    ``frozen.created_mark`` (late, or stamped after the run's end); None without a created time."""
    if plan.frozen is None or not plan.scan.created_field:
        return None
    return READS.late(plan.scan, columns, plan.frozen.as_of, plan.frozen.created_mark)


def render_partials(plan: AggregatesAt) -> str:
    """The lifetime aggregates' states per entity as of ``plan.frozen.as_of``, for every entity."""
    base = plan.base
    fresh = READS.fresh_events(plan)
    query = exp.select("*").from_(_table("fs" if base is None else "merged"))
    query = query.with_(ident("fe"), as_=fresh).with_(ident("fs"), as_=_group_states(plan, "fe"))
    if base is not None:
        query = query.with_(ident("old"), as_=exp.select("*").from_(_stored(base.path)))
        query = query.with_(ident("merged"), as_=_merge_states(plan, "old", "fs"))
    return query.sql(dialect=DIALECT, pretty=True)


def _changed(plan: AggregatesAt) -> exp.Expr:
    """Events that change an entity's aggregates between ``since`` and ``end``: new ones, and those
    that left a window (``since - w < ts <= end - w``)."""
    assert plan.since is not None  # an incremental run
    assert plan.new_since is not None
    ts = col(time_names(plan.scan).ts_up)  # for > and <= (module docstring)
    conditions: list[exp.Expr] = [_after_mark(plan.scan, plan.new_since)]
    for window in sorted({a.window for a in plan.windowed if a.window is not None}):
        left = exp.and_(
            exp.GT(this=ts.copy(), expression=_at(plan.since - window)),
            exp.LTE(this=ts.copy(), expression=_at(plan.end - window)),
        )
        conditions.append(exp.Paren(this=left))
    return exp.or_(*conditions)


def render_aggregates_at(plan: AggregatesAt) -> str:
    """Keys, ``__event_ts`` (= ``end``) and every aggregate, for the entities ``plan`` selects."""
    windowed, lifetime = plan.windowed, plan.lifetime
    columns = list(dict.fromkeys(a.column for a in plan.aggregates))
    window = longest(windowed)
    ts_up = time_names(plan.scan).ts_up
    ctes: list[tuple[str, exp.Expr]] = [
        ("ev", READS.between(plan.scan, columns, value_lower(plan), plan.end))
    ]
    keys = [col(k) for k in plan.keys]
    touched = exp.select(*keys).distinct().from_(_table("ev"))
    if plan.since is not None:
        touched = touched.where(_changed(plan))
    elif plan.start is not None:
        touched = touched.where(exp.GTE(this=col(TS), expression=_at(plan.start)))  # >=: rounded down
    if plan.late_created is not None and plan.scan.created_field:
        late = exp.select(*[k.copy() for k in keys]).from_(
            READS.late(plan.scan, [], plan.end, plan.late_created).subquery("l")
        )
        touched = exp.union(touched, late, distinct=True)  # type: ignore[assignment]
    ctes.append(("touched", touched))
    query = exp.select(*[col(k, "k") for k in plan.keys]).from_(_table("touched", "k"))
    outputs: dict[str, exp.Expr] = {}
    on_keys = exp.and_(*[exp.EQ(this=col(k, "k"), expression=col(k, "w")) for k in plan.keys])
    if windowed:
        end = _at(plan.end)
        values = [exp.alias_(direct_aggregate(a, plan.scan, end), f"__w{i}", quoted=True)
                  for i, a in enumerate(windowed)]  # fmt: skip
        assert window is not None
        recent = _after_lower_edge(col(ts_up), end.copy(), window)
        body = (
            exp.select(*keys, *values)
            .from_(_table("ev", "v"))
            .where(recent)
            .group_by(*[k.copy() for k in keys])
        )
        ctes.append(("win", body))
        query = query.join(_table("win", "w"), on=on_keys, join_type="LEFT")
        for i, a in enumerate(windowed):
            outputs[a.output] = a.fn.or_empty(col(f"__w{i}", "w"))  # no event in the window
    if lifetime:
        newer: exp.Query = exp.select("*").from_(_table("ev"))
        if plan.frozen is not None:
            newer = newer.where(_after_mark(plan.scan, plan.frozen.as_of))
        unknown = _unknown_to_partials(plan, columns)
        if unknown is not None:
            newer = exp.union(newer, unknown, distinct=False)
        ctes.append(("ne", newer))
        ctes.append(("ns", _group_states(plan, "ne")))
        if plan.frozen is not None:
            ctes.append(("old", exp.select("*").from_(_stored(plan.frozen.path))))
            ctes.append(("life", _merge_states(plan, "old", "ns")))
        else:
            ctes.append(("life", exp.select("*").from_(_table("ns"))))
        on_life = exp.and_(*[exp.EQ(this=col(k, "k"), expression=col(k, "p")) for k in plan.keys])
        query = query.join(_table("life", "p"), on=on_life, join_type="LEFT")
        for i, a in enumerate(plan.aggregates):
            if a.window is None:
                outputs[a.output] = finished(i, a, "p")
    query = query.select(
        exp.alias_(exp.cast(_at(plan.end), "TIMESTAMPTZ"), "__event_ts", quoted=True),
        *[
            exp.alias_(exp.cast(outputs[a.output], DUCKDB_TYPES[a.dtype]), a.output, quoted=True)
            for a in plan.aggregates
        ],
    )
    for name, cte in ctes:
        query = query.with_(ident(name), as_=cte)
    return query.sql(dialect=DIALECT, pretty=True)


def render_created_mark(scan: SourceScan, upper: datetime, after: datetime | None) -> str:
    """The greatest created time among the events with ``ts <= upper`` created after ``after``."""
    rows = exp.Subquery(this=READS.late(scan, [], upper, after), alias=exp.TableAlias(this=ident("r")))
    query = exp.select(exp.alias_(exp.Max(this=col(CREATED)), "max_created", quoted=True)).from_(rows)
    return query.sql(dialect=DIALECT)


def render_aggregate_stats(plan: AggregatesAt) -> str:
    """Rows the value query considers, rows skipped for a null key or event time, the greatest created
    time among them, and the created mark of the new partial states (``plan.frozen.created_mark``)."""
    scan = plan.scan
    ts, ts_type = col(scan.timestamp_field), scan.timestamp_type
    nulls = exp.or_(
        *[exp.Is(this=c, expression=exp.null()) for c in [*[col(k) for k in plan.keys], ts.copy()]]
    )
    in_range: list[exp.Expr] = [bound(ts.copy(), ts_type, upper_op(scan), plan.end)]
    lower = value_lower(plan)
    if lower is not None:
        in_range.append(bound(ts.copy(), ts_type, after_op(scan), lower))
    created: exp.Expr = (
        as_micros(col(scan.created_field), scan.created_type) if scan.created_field else exp.null()
    )
    partials_created: exp.Expr = exp.null()  # what the new partial states hold: the plan decided it
    if plan.frozen is not None and plan.frozen.created_mark is not None and scan.created_field:
        partials_created = _at(plan.frozen.created_mark)
    query = exp.select(
        exp.alias_(exp.Count(this=exp.Star()), "rows_read", quoted=True),
        exp.alias_(exp.Sum(this=exp.cast(nulls, "INTEGER")), "rows_skipped", quoted=True),
        exp.alias_(exp.Max(this=created), "max_created", quoted=True),
        exp.alias_(partials_created, "partials_created", quoted=True),
    ).from_(source_table(scan))
    where = exp.or_(exp.Is(this=ts.copy(), expression=exp.null()), exp.and_(*in_range))
    return query.where(where).sql(dialect=DIALECT)
