"""DuckDB SQL for windowed aggregations (``plan/window.py``), built as sqlglot trees.

Training sets (``WindowAggregate``): the entity rows are interleaved with the view's events, per key in
time order, and each aggregate is read off at the entity rows. Window ``(t - w, t]``, exclusive lower
edge, inclusive upper edge. ``t`` and ``w`` are whole microseconds, and events are placed by their time
rounded *up* to the microsecond (``__ts_up`` for nanosecond sources, ``__ts`` otherwise: ``time_names``),
which is exact at both edges: ``ts <= t`` iff ``ceil(ts) <= t``, and ``ts > t - w`` iff
``ceil(ts) > t - w`` iff ``ceil(ts) >= t - w + 1µs``. So an event 1 ns after ``t`` is outside the
window at ``t``, one 1 ns after ``t - w`` inside it.

Each function's ``sweep`` (``featurestore/aggregates``) picks one of three ways:

* count / sum / mean (``sql/window_running.py``): running totals (non-null count and sum per column)
  over the events, read by "probe" rows at ``t`` and at ``t - w`` for each window; a probe sorts after
  the events of its own timestamp, so the total at ``t`` includes an event at ``t`` and the total at
  ``t - w`` includes (and so removes) an event at ``t - w``. One sort serves every window; the probes are
  pivoted back to one row per entity row. Every total is exact (float values are summed as integers
  scaled per key), so a window's sum is exact before its one final rounding; keys whose float values
  span too much for that are summed with range frames (``fsum``) instead.
* min / max / stddev / count_distinct: range frames ``RANGE BETWEEN w - 1µs PRECEDING AND CURRENT ROW``
  over the same interleaving (``CURRENT ROW`` takes in the events tied with ``t``), each the function's
  ``aggregate``. The frames order rows by their time in whole microseconds since the epoch (BIGINT
  offsets cost DuckDB less than intervals), and leave out events whose framed columns are all null.
* last: an ASOF join on the latest event with a non-null value at or before ``t`` (events within one
  rounded microsecond ordered by their nanoseconds; ties: greatest created, then greatest value), kept
  when it is later than ``t - w``.

A view with ``exclude_current_time`` has windows ``(t - w, t)`` (lifetime ``ts < t``): the probes at
``t`` read the running totals at ``t - 1µs``, the frames end ``1µs PRECEDING`` and the ASOF lookup is
strict, all exact on microsecond times; a nanosecond source (events within a microsecond before ``t``)
takes the range join instead, on the time rounded down (``ts < t`` iff ``floor(ts) < t``).

Entity rows with a null key or time match nothing (count 0, others null). ``as_known_at`` and
materialization aggregate directly (``direct_aggregate``): a range join for the former (an event is
known when ``created <= t``; one with a null created time never is, and a source without a created
column knows each event from its event time, as ``_ranked_join`` in ``sql/duckdb.py``), one GROUP BY
per entity at a single time for the latter; float sums and means there are compensated (``fsum``,
``favg``), so their error stays relative to the window's values.
"""

from __future__ import annotations

from datetime import timedelta

from sqlglot import exp

from featurestore.aggregates import Events
from featurestore.dsl.dtypes import is_nanosecond
from featurestore.plan.nodes import SourceScan
from featurestore.plan.window import WindowAggregate, WindowedValue
from featurestore.sql.duckdb import (
    ENTITY_TS,
    ROW_ID,
    col,
    exact_times,
    ident,
    interval_us,
    not_after,
    scan_select,
    time_names,
)
from featurestore.sql.duckdb_types import DUCKDB_TYPES
from featurestore.sql.window_running import (
    fallback_keys,
    fallback_sums,
    keys_equal,
    plain_mean,
    plain_sum,
    running_ctes,
    running_outputs,
    table,
)

ONE_US = timedelta(microseconds=1)
US = "__us"  # an event or entity time in microseconds since the epoch, which frames range over


def epoch_us(ts: exp.Expr) -> exp.Expr:
    """A timestamp as whole microseconds since the epoch (BIGINT)."""
    return exp.Anonymous(this="epoch_us", expressions=[ts])


def microseconds(span: timedelta) -> int:
    """``span`` in whole microseconds.

    >>> microseconds(timedelta(hours=1))
    3600000000
    """
    return span // ONE_US


def _not_null(*columns: exp.Expr) -> exp.Expr:
    return exp.and_(*[exp.Not(this=exp.Is(this=c, expression=exp.null())) for c in columns])


def _union_by_name(left: exp.Query, *rights: exp.Query) -> exp.Query:
    query: exp.Query = left
    for right in rights:
        query = exp.Union(this=query, expression=right, distinct=False, by_name=True)
    return query


def _cast(value: exp.Expr, dtype: str) -> exp.Expr:
    return exp.cast(value, DUCKDB_TYPES[dtype])


def _after_lower_edge(ts: exp.Expr, t: exp.Expr, window: timedelta) -> exp.Expr:
    """``ts > t - window``: the exclusive lower edge of a window (``ts`` rounded up, if nanoseconds)."""
    return exp.GT(this=ts, expression=exp.Sub(this=t, expression=interval_us(window)))


def window_events(scan: SourceScan, columns: list[str]) -> exp.Select:
    """The events of a window scan, with the columns ``time_names`` names: every renderer of
    aggregations reads its events through this (``ev``), so they all place events alike."""
    return scan_select(scan, columns, exact=True)


def render_window_aggregate(node: WindowAggregate, entity_table: str) -> exp.Select:
    """``__row_id`` and one column per aggregate, exactly one row per entity row (any order)."""
    if node.as_known_at or (node.scan.exclude_current_time and exact_times(node.scan)):
        return render_range_join(node, entity_table)
    running = [a for a in node.aggregates if a.fn.sweep == "running"]
    framed = [a for a in node.aggregates if a.fn.sweep == "frame"]
    latest = [a for a in node.aggregates if a.fn.sweep == "latest"]
    ctes: list[tuple[str, exp.Expr]] = [
        ("ev", window_events(node.scan, list(node.columns))),
        ("ent", _entity_rows(node, entity_table)),
    ]
    query = exp.select(col(ROW_ID, "e")).from_(table(entity_table, "e"))
    outputs: dict[str, exp.Expr] = {}
    if running:
        ctes += running_ctes(node, running)
        query = _left_join_on_row_id(query, "rp")
        fallback: dict[str, exp.Expr] = {}
        sums = fallback_sums(running)
        if sums:  # float sums of keys whose values span too much for exact totals
            ctes += [("fk", fallback_keys(node, running)), *_framed_ctes(node, sums, "fb", only="fk")]
            query = _left_join_on_row_id(query, "fb")
            fallback = {a.output: col(f"__f{k}", "fb") for k, a in enumerate(sums)}
        outputs |= running_outputs(running, fallback)
    if framed:
        ctes += _framed_ctes(node, framed, "fr")
        query = _left_join_on_row_id(query, "fr")
        for k, a in enumerate(framed):
            outputs[a.output] = a.fn.or_empty(col(f"__f{k}", "fr"))
    for j, column in enumerate(dict.fromkeys(a.column for a in latest)):
        name = f"l{j}"
        ctes += _latest_ctes(node, column, name)
        query = _left_join_on_row_id(query, name)
        for a in (a for a in latest if a.column == column):
            value: exp.Expr = col("__lv", name)
            if a.window is not None:
                inside = _after_lower_edge(col("__lt", name), col(ENTITY_TS, "e"), a.window)
                value = exp.Case(ifs=[exp.If(this=inside, true=value)])
            outputs[a.output] = value
    query = query.select(
        *[exp.alias_(_cast(outputs[a.output], a.dtype), a.output, quoted=True) for a in node.aggregates]
    )
    for name, body in ctes:
        # ``ev`` is read by several steps: re-reading the source costs less than holding every event
        query = query.with_(ident(name), as_=body, materialized=False if name == "ev" else None)
    return query


def _left_join_on_row_id(query: exp.Select, name: str) -> exp.Select:
    on = exp.EQ(this=col(ROW_ID, name), expression=col(ROW_ID, "e"))
    return query.join(table(name), on=on, join_type="LEFT")


def _entity_rows(node: WindowAggregate, entity_table: str) -> exp.Select:
    """The entity rows that can match events: non-null keys and time."""
    return (
        exp.select(col(ROW_ID), col(ENTITY_TS), *[col(k) for k in node.keys])
        .from_(table(entity_table))
        .where(_not_null(col(ENTITY_TS), *[col(k) for k in node.keys]))
    )


def events_of(a: WindowedValue, scan: SourceScan, table: str | None = None) -> Events:
    """What ``a``'s function aggregates, over rows of ``window_events`` (aliased ``table``, if given):
    sums and means compensated or exact (``plain_sum``, ``plain_mean``), ``last``'s order (``latest_key``)."""
    column = col(a.column, table)
    return Events(
        value=column,
        total=plain_sum(a, column.copy()),
        average=plain_mean(a, column.copy()),
        latest=latest_key(scan, column.copy(), table),
        output_type=DUCKDB_TYPES[a.dtype],
    )


def _framed_ctes(
    node: WindowAggregate, framed: list[WindowedValue], name: str, only: str | None = None
) -> list[tuple[str, exp.Expr]]:
    """``<name>``: each framed aggregate at the entity rows (``__f<k>``), over events interleaved with
    them; with ``only``, the events and entity rows of the keys in that table only."""
    columns = list(dict.fromkeys(a.column for a in framed))
    ts = time_names(node.scan).ts_up
    # Frames range over whole microseconds since the epoch: BIGINT offsets cost DuckDB less than
    # intervals subtracted from each row's timestamp.
    events = (
        exp.select(*[col(k) for k in node.keys], exp.alias_(epoch_us(col(ts)), US, quoted=True),
                   *[col(c) for c in columns])
        .from_(table("ev"))
        .where(exp.or_(*[_not_null(col(c)) for c in columns]))  # every frame function ignores nulls
    )  # fmt: skip
    probes = exp.select(
        *[col(k) for k in node.keys], exp.alias_(epoch_us(col(ENTITY_TS)), US, quoted=True), col(ROW_ID)
    ).from_(table("ent"))
    if only is not None:
        events = events.join(table(only), using=[ident(k) for k in node.keys])
        probes = probes.join(table(only), using=[ident(k) for k in node.keys])
    values: list[exp.Expr] = [col(ROW_ID)]
    # ``CURRENT ROW`` takes in the events at t; ``1 PRECEDING`` (1µs) leaves them out (exclude_current_time)
    upper: dict[str, object] = {"end": "CURRENT ROW"}
    if node.scan.exclude_current_time:
        upper = {"end": exp.Literal.number(1), "end_side": "PRECEDING"}
    for k, a in enumerate(framed):
        if a.window is None:
            spec = exp.WindowSpec(kind="RANGE", start="UNBOUNDED", start_side="PRECEDING", **upper)
        else:
            reach = exp.Literal.number(microseconds(a.window) - 1)  # (t - w, t] in whole microseconds
            spec = exp.WindowSpec(kind="RANGE", start=reach, start_side="PRECEDING", **upper)
        frame = exp.Window(
            this=a.fn.aggregate(events_of(a, node.scan)),
            partition_by=[col(k) for k in node.keys],
            order=exp.Order(expressions=[exp.Ordered(this=col(US))]),
            spec=spec,
        )
        values.append(exp.alias_(frame, f"__f{k}", quoted=True))
    fr = (
        exp.select(*values)
        .from_(exp.Subquery(this=_union_by_name(events, probes), alias=exp.TableAlias(this=ident("u"))))
        .qualify(_not_null(col(ROW_ID)))
    )
    return [(name, fr)]


def latest_order(scan: SourceScan, column: str) -> list[exp.Ordered]:
    """Events of one rounded microsecond for ``last``, latest first: by nanoseconds (for nanosecond
    sources: ``__ts_up`` groups up to a microsecond of them), then greatest created (null lowest), then
    greatest value."""
    names = time_names(scan)
    order = [names.ts_order] if exact_times(scan) else []  # otherwise constant within the microsecond
    order += [names.created_order, column]
    return [exp.Ordered(this=col(n), desc=True, nulls_first=False) for n in order]


def _latest_ctes(node: WindowAggregate, column: str, name: str) -> list[tuple[str, exp.Expr]]:
    """``<name>``: per entity row, the time and value of the latest non-null ``column`` at or before t."""
    ts = time_names(node.scan).ts_up
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[*[col(k) for k in node.keys], col(ts)],
        order=exp.Order(expressions=latest_order(node.scan, column)),
    )
    values = (
        exp.select(*[col(k) for k in node.keys], col(ts), exp.alias_(col(column), "__v", quoted=True))
        .from_(table("ev"))
        .where(_not_null(col(column)))
        .qualify(exp.EQ(this=rank, expression=exp.Literal.number(1)))
    )
    at_or_before = exp.GT if node.scan.exclude_current_time else exp.GTE  # strict: ts < t
    on = exp.and_(
        *keys_equal(node.keys, "e", "v"), at_or_before(this=col(ENTITY_TS, "e"), expression=col(ts, "v"))
    )
    body = (
        exp.select(col(ROW_ID, "e"), exp.alias_(col(ts, "v"), "__lt", quoted=True),
                   exp.alias_(col("__v", "v"), "__lv", quoted=True))
        .from_(table("ent", "e"))
        .join(exp.Subquery(this=values, alias=exp.TableAlias(this=ident("v"))), on=on, join_type="ASOF LEFT")
    )  # fmt: skip
    return [(name, body)]


def latest_key(scan: SourceScan, column: exp.Expr, table: str | None = None) -> exp.Expr:
    """``(ts, created, value)`` of an event of ``window_events``: the order in which ``last`` picks,
    as one comparable struct. Times at full precision (nanoseconds since the epoch for nanosecond
    columns), a null created time lowest.

    Lifetime partial states store this struct (``sql/window_states.py``): its layout for a source
    without nanosecond times is the one states were always stored with."""
    names = time_names(scan)
    # The created order column is nanoseconds (BIGINT) for an exact scan, unless the created column is
    # in microseconds; an exact scan without a created column projects a BIGINT NULL.
    created_ns = exact_times(scan) and (scan.created_field is None or is_nanosecond(scan.created_type))
    # Lower than any created time: a struct compares a NULL field above every value.
    low = exp.cast(
        exp.Literal.number(-(2**63)) if created_ns else exp.Literal.string("-infinity"),
        "BIGINT" if created_ns else "TIMESTAMP",
    )
    return exp.Anonymous(
        this="struct_pack",
        expressions=[
            exp.PropertyEQ(this=ident("t"), expression=col(names.ts_order, table)),
            exp.PropertyEQ(
                this=ident("c"),
                expression=exp.Coalesce(this=col(names.created_order, table), expressions=[low]),
            ),
            exp.PropertyEQ(this=ident("v"), expression=column),
        ],
    )


def direct_aggregate(a: WindowedValue, scan: SourceScan, t: exp.Expr) -> exp.Expr:
    """``a`` as a plain aggregate over the rows of ``window_events`` (aliased ``v``), filtered to
    ``(t - window, t]``'s lower edge (the caller bounds the upper edge): for range joins and for
    materialization's GROUP BY."""
    events = events_of(a, scan, "v")
    conditions: list[exp.Expr] = []
    if a.window is not None:
        conditions.append(_after_lower_edge(col(time_names(scan).ts_up, "v"), t.copy(), a.window))
    only = a.fn.event_filter(events)
    if only is not None:
        conditions.append(only)
    agg = a.fn.aggregate(events)
    if conditions:
        agg = exp.Filter(this=agg, expression=exp.Where(this=exp.and_(*conditions)))
    return a.fn.or_empty(agg)


def render_range_join(node: WindowAggregate, entity_table: str) -> exp.Select:
    """Each entity row joined to the events of its key in ``(t - longest, t]`` (``(t - longest, t)`` with
    ``exclude_current_time``), then aggregated per entity row: as-known-at, and a nanosecond source's
    ``exclude_current_time``. As known at ``t`` an event must also have ``created <= t``, so one with a
    null created time is never known (nothing says it was by ``t``; Feast's joins leave such rows out
    too); a source without a created column knows each event from its event time."""
    scan = node.scan
    names = time_names(scan)
    ev = window_events(scan, list(node.columns))
    conditions = [*keys_equal(node.keys, "e", "v"), not_after(scan, "v", col(ENTITY_TS, "e"))]
    if node.as_known_at and scan.created_field:  # also the path of nanosecond exclude_current_time
        conditions.append(exp.LTE(this=col(names.created_up, "v"), expression=col(ENTITY_TS, "e")))
    if node.longest_window is not None:
        conditions.append(_after_lower_edge(col(names.ts_up, "v"), col(ENTITY_TS, "e"), node.longest_window))
    values = [
        exp.alias_(_cast(direct_aggregate(a, scan, col(ENTITY_TS, "e")), a.dtype), a.output, quoted=True)
        for a in node.aggregates
    ]
    return (
        exp.select(col(ROW_ID, "e"), *values)
        .from_(table(entity_table, "e"))
        .join(
            exp.Subquery(this=ev, alias=exp.TableAlias(this=ident("v"))),
            on=exp.and_(*conditions),
            join_type="LEFT",
        )
        .group_by(col(ROW_ID, "e"))
    )
