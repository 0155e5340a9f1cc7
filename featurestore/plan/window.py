"""Plans for windowed aggregations: per entity row, aggregates of the events in ``(t - window, t]``.

Two nodes, both plain data:

* ``WindowAggregate``: a training-set step. For each entity row (keys ``k``, time ``t``) and each
  aggregate, the events of the view with keys ``k`` and ``t - window < ts <= t`` (``window=None``:
  ``ts <= t``), aggregated. The renderer sweeps the events once per key in time order: exact running
  totals looked up at ``t`` and ``t - window`` (count, sum, mean), range frames (min, max, stddev,
  count_distinct) or an ASOF lookup (last): each function's ``sweep`` says which. No step pairs every
  entity row with every event.
* ``AggregatesAt``: a materialization step. Every aggregate per entity as of one time ``end``, for the
  entities whose windows changed since the last run; lifetime aggregates merge partial aggregates kept
  in the state store with the events since they were taken, so no run re-reads the whole history.

The passes ``prune_window_columns`` and ``push_window_time_range`` narrow a ``WindowAggregate``'s scan;
``explain_window`` describes either node in one line.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.aggregates import AggregateFunction, Sweep, function
from featurestore.config import format_duration
from featurestore.plan.nodes import FeatureColumn, SourceScan
from featurestore.registry.partials import LifetimePartials

if TYPE_CHECKING:
    from featurestore.plan.nodes import TrainingSetPlan
    from featurestore.registry.model import RegisteredView, Registry

# How the training-set sweep computes a function (``AggregateFunction.sweep``), for ``explain``.
_SWEEPS: dict[Sweep, str] = {
    "running": "running totals at t and t - window",
    "frame": "range frames",
    "latest": "ASOF latest non-null",
}


@dataclass(frozen=True)
class WindowedValue:
    """One aggregate: ``function`` of source ``column`` over ``window``, written to ``output``.

    ``column_type`` is the source column's Arrow type name (booleans are summed as integers).
    ``fn`` is the function itself (``featurestore.aggregates``), which renderers ask.
    """

    name: str
    column: str
    function: str
    window: timedelta | None
    dtype: str
    output: str
    column_type: str

    @property
    def fn(self) -> AggregateFunction:
        """The aggregate function ``function`` names."""
        return function(self.function)


@dataclass(frozen=True)
class WindowAggregate:
    """For each entity row, each aggregate over the view's events in ``(t - window, t]``.

    ``as_known_at`` also requires ``created <= t``: an event with a null created time is in no window
    (as for plain views), and a source without a created column knows each event from its event time.
    It is rendered as a range join.
    """

    view: str
    scan: SourceScan
    keys: tuple[str, ...]
    aggregates: tuple[WindowedValue, ...]
    as_known_at: bool = False

    @property
    def features(self) -> tuple[FeatureColumn, ...]:
        return tuple(FeatureColumn(a.name, a.dtype, a.output) for a in self.aggregates)

    @property
    def columns(self) -> tuple[str, ...]:
        """The source columns the aggregates read, in first-use order."""
        return tuple(dict.fromkeys(a.column for a in self.aggregates))

    @property
    def longest_window(self) -> timedelta | None:
        """The longest window; None when an aggregate is over the lifetime."""
        return longest(self.aggregates)


@dataclass(frozen=True)
class AggregatesAt:
    """Every aggregate per entity as of ``end`` (for materialization), with ``end`` as event time.

    Entities written: with ``since`` None (a full run), every entity with an event at or before ``end``
    (from ``start`` on, when set). Otherwise (``since`` is the previous run's end) only the entities
    whose aggregates may differ from those written then: with an event after ``new_since`` (new, or
    re-read in the look-back window), an event that left a window (``since - w < ts <= end - w``), or
    a row created after ``late_created`` (a late arrival).
    Lifetime aggregates: the partial states in ``frozen`` merged with the events after ``frozen.as_of``
    and, with a created column, the events at or before it created after ``frozen.created_mark`` (the
    states hold those created by then, or with no created time); every event when ``frozen`` is None.
    ``frozen`` itself is made from ``base`` (the previous run's states, or none), the events since
    ``base.as_of`` and the rows created after ``base.created_mark``, each created by
    ``frozen.created_mark``.
    """

    view: str
    scan: SourceScan
    keys: tuple[str, ...]
    aggregates: tuple[WindowedValue, ...]
    end: datetime
    start: datetime | None = None
    since: datetime | None = None
    new_since: datetime | None = None
    late_created: datetime | None = None
    base: LifetimePartials | None = None
    frozen: LifetimePartials | None = None

    @property
    def lifetime(self) -> tuple[WindowedValue, ...]:
        return tuple(a for a in self.aggregates if a.window is None)

    @property
    def windowed(self) -> tuple[WindowedValue, ...]:
        return tuple(a for a in self.aggregates if a.window is not None)


def longest(aggregates: tuple[WindowedValue, ...]) -> timedelta | None:
    """The longest window of ``aggregates``; None if any is a lifetime aggregate (or there are none)."""
    windows = [a.window for a in aggregates]
    if not windows or any(w is None for w in windows):
        return None
    return max(w for w in windows if w is not None)


def windowed_values(
    rv: RegisteredView, features: list[str] | tuple[str, ...], outputs: list[str] | tuple[str, ...]
) -> tuple[WindowedValue, ...]:
    """The requested aggregates of an aggregation view, in request order."""
    by_name = {a.name: a for a in rv.view.aggregations}
    values = []
    for name, out in zip(features, outputs, strict=True):
        agg = by_name[name]
        values.append(
            WindowedValue(
                name=agg.name,
                column=agg.column,
                function=agg.function,
                window=agg.window,
                dtype=rv.view.feature(name).dtype,
                output=out,
                column_type=rv.source_schema.get(agg.column, "double"),
            )
        )
    return tuple(values)


def plan_window_aggregate(
    rv: RegisteredView, features: list[str], outputs: list[str], root: Path, *, as_known_at: bool = False
) -> WindowAggregate:
    """The training-set step of an aggregation view (the passes narrow its scan)."""
    from featurestore.plan.build import scan_with_pushed

    return WindowAggregate(
        view=rv.name,
        scan=scan_with_pushed(rv, root),
        keys=rv.view.join_keys,
        aggregates=windowed_values(rv, features, outputs),
        as_known_at=as_known_at,
    )


def prune_window_columns(plan: TrainingSetPlan) -> TrainingSetPlan:
    """Read only the keys, timestamps and the aggregated columns of each ``WindowAggregate``.

    >>> from featurestore.plan.nodes import EntityRows, TrainingSetPlan
    >>> scan = SourceScan("v", "file", "/x.parquet", "parquet", False, "ts", "timestamp[us]", None, ("id",))
    >>> agg = WindowedValue("n", "amount", "count", None, "int64", "n", "double")
    >>> plan = TrainingSetPlan(EntityRows("e", ("id", "ts"), "ts", 0, None, None),
    ...                        (WindowAggregate("v", scan, ("id",), (agg,)),))
    >>> prune_window_columns(plan).joins[0].scan.columns
    ('id', 'ts', 'amount')
    """
    joins = []
    for join in plan.joins:
        if isinstance(join, WindowAggregate):
            scan = join.scan
            wanted = [*join.keys, scan.timestamp_field, *([scan.created_field] if scan.created_field else [])]
            wanted += [c for c in join.columns if c not in wanted]
            join = replace(join, scan=replace(scan, columns=tuple(wanted)))
        joins.append(join)
    return replace(plan, joins=tuple(joins))


def push_window_time_range(plan: TrainingSetPlan) -> TrainingSetPlan:
    """Scan only events that can fall in a window: ``min(t) - longest window <= ts <= max(t)``.

    A lifetime aggregate has no lower bound; with no entity rows the scan is left unbounded.

    >>> from featurestore.plan.nodes import EntityRows, TrainingSetPlan
    >>> scan = SourceScan("v", "file", "/x.parquet", "parquet", False, "ts", "timestamp[us]", None, ("id",))
    >>> agg = WindowedValue("n", "amount", "count", timedelta(days=7), "int64", "n", "double")
    >>> rows = EntityRows("e", ("id", "ts"), "ts", 2, datetime(2024, 1, 9), datetime(2024, 1, 20))
    >>> s = push_window_time_range(TrainingSetPlan(rows, (WindowAggregate("v", scan, ("id",), (agg,)),)))
    >>> s.joins[0].scan.lower, s.joins[0].scan.upper
    (datetime.datetime(2024, 1, 2, 0, 0), datetime.datetime(2024, 1, 20, 0, 0))
    """
    entity = plan.entity
    if entity.min_ts is None or entity.max_ts is None:
        return plan
    joins = []
    for join in plan.joins:
        if isinstance(join, WindowAggregate):
            window = join.longest_window
            lower = None if window is None else entity.min_ts - window
            join = replace(join, scan=replace(join.scan, lower=lower, upper=entity.max_ts))
        joins.append(join)
    return replace(plan, joins=tuple(joins))


WINDOW_PASSES = (prune_window_columns, push_window_time_range)


def plan_aggregates_at(
    rv: RegisteredView,
    root: Path,
    *,
    end: datetime,
    start: datetime | None = None,
    since: datetime | None = None,
    new_since: datetime | None = None,
    late_created: datetime | None = None,
    base: LifetimePartials | None = None,
    frozen: LifetimePartials | None = None,
) -> AggregatesAt:
    """Every aggregate of an aggregation view per entity as of ``end`` (see ``AggregatesAt``)."""
    from featurestore.plan.build import scan_with_pushed

    names = rv.view.feature_names
    aggregates = windowed_values(rv, names, names)
    scan = scan_with_pushed(rv, root)
    wanted = [*rv.view.join_keys, scan.timestamp_field, *([scan.created_field] if scan.created_field else [])]
    wanted += [c for c in dict.fromkeys(a.column for a in aggregates) if c not in wanted]
    return AggregatesAt(
        view=rv.name,
        scan=replace(scan, columns=tuple(wanted), upper=end),
        keys=rv.view.join_keys,
        aggregates=aggregates,
        end=end,
        start=start,
        since=since,
        new_since=new_since,
        late_created=late_created,
        base=base,
        frozen=frozen,
    )


def explain_window(node: WindowAggregate | AggregatesAt) -> str:
    """One line: the node, its keys and each aggregate with the method that computes it."""
    aggs = ", ".join(
        f"{a.function}({a.column}) over {_window_text(a.window)}"
        + ("" if a.name == a.output else f" AS {a.output}")
        for a in node.aggregates
    )
    if isinstance(node, AggregatesAt):
        changed = "all entities"
        if node.since is not None:
            changed = f"entities whose windows changed since {node.since}"
        if node.frozen is not None:
            changed += f", lifetime from partial aggregates at {node.frozen.as_of}"
        return f"AggregatesAt view={node.view} keys={list(node.keys)} end={node.end}, {changed}: {aggs}"
    if node.as_known_at:
        how = "as-known-at (created <= t), range join"
    else:
        methods = sorted({_SWEEPS[a.fn.sweep] for a in node.aggregates})
        how = "sweep per key: " + ", ".join(methods)
    window = "(t - window, t)" if node.scan.exclude_current_time else "(t - window, t]"  # events at t?
    return f"WindowAggregate view={node.view} keys={list(node.keys)} events in {window}, {how}: {aggs}"


def lookback_warnings(registry: Registry, lookback: timedelta) -> list[str]:
    """One warning per aggregation view whose source has no created timestamp, in name order.

    Without a created time an incremental run cannot tell a late event from one it already read, so
    it re-reads only the ``lookback`` before the watermark: an event that lands later than that is
    written online only by the next full ``materialize``. ``apply`` and ``plan`` show these.

    >>> from featurestore.dsl import Aggregation, Entity, FeatureView, FileSource
    >>> from featurestore.registry.model import RegisteredView, Registry
    >>> view = FeatureView(name="pay", entities=[Entity(name="customer", join_keys=["customer_id"])],
    ...                    source=FileSource(name="payments", path="pay.parquet"),
    ...                    aggregations=[Aggregation("amount", "sum", timedelta(days=1))],
    ...                    defined_at="definitions/pay.py:7")
    >>> rv = RegisteredView(view=view, data_fingerprint="d", metadata_fingerprint="m", source_schema={})
    >>> print(lookback_warnings(Registry(project="p", views={"pay": rv}), timedelta(hours=1))[0])
    feature view 'pay' (definitions/pay.py:7) aggregates source 'payments', which has no created \
timestamp: an incremental materialize re-reads only the 1h before the watermark ([materialize] \
lookback), so an event that lands more than 1h late is written online only by the next full \
materialize. Add a created timestamp column to the source (created_timestamp_field=...), or run a \
full materialize periodically.
    """
    warnings = []
    for name in sorted(registry.views):
        view = registry.views[name].view
        source = view.source
        if not view.aggregations or source.created_timestamp_field:
            continue
        span = format_duration(lookback)
        warnings.append(
            f"feature view {name!r}{view.where()} aggregates source {source.name!r}, which has no created "
            f"timestamp: an incremental materialize re-reads only the {span} before the watermark "
            f"([materialize] lookback), so an event that lands more than {span} late is written online "
            "only by the next full materialize. Add a created timestamp column to the source "
            "(created_timestamp_field=...), or run a full materialize periodically."
        )
    return warnings


def _window_text(window: timedelta | None) -> str:
    return "lifetime" if window is None else format_duration(window)
