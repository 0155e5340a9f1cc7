"""Materializing aggregation views: every aggregate per entity as of the run's end ``T``, written online
with event time ``T``, so an online read returns what a training set gives for an entity row at ``T``.

What a run reads (never the whole history, except the first run of a view with lifetime aggregates):

* Windowed aggregates: the events in ``(T - longest window, T]``.
* Entities: a full run writes every entity with an event up to ``T`` (from ``start`` on, when given). An
  incremental run writes only the entities whose aggregates can differ from those written at the
  watermark ``M``: an event entered a window (``ts > M``; without a created time, ``ts > M - lookback``),
  an event left one (``M - w < ts <= T - w`` for a window ``w``), or, with a created time, a late row
  landed (``ts <= M``, created after the last run: after the greatest created time it saw, or after
  ``M`` if that is earlier; rows stamped later than ``M`` may already have been in the source then).
  Every other entity's windows hold the same events at ``T`` as at ``M``, and its lifetime aggregates
  saw nothing new.
* Lifetime aggregates: partial states kept by ``registry/partials.py``. With a created time they are
  taken at ``T`` and hold the events created at the latest at their *created mark* (the greatest created
  time among the events they may take in when the run is planned, at most ``T``; rows without a created
  time count as created in time); a row created later, late or stamped ahead, is read beside them each
  run until a run's mark passes it, so every late row is counted exactly once. Without a created time
  they are taken at ``T - lookback`` (the look-back window is re-read each run; rows older than it that
  land late are missed, as for plain views: ``plan/window.py::lookback_warnings`` names such views). Each
  run merges the stored states with the events since.

Between runs, online values stay as of the last ``T``: events appended to the source are reflected at the
next materialization. ``store.push`` refuses aggregation views (their features are derived); rows already
in a view's push log are read with its source like any event.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from featurestore.plan.window import AggregatesAt, plan_aggregates_at
from featurestore.registry.partials import LifetimePartials, PartialStore
from featurestore.sql import renderer_for
from featurestore.sql.timestamps import exact_times

if TYPE_CHECKING:
    from featurestore.materialize import Materializer, ViewRun
    from featurestore.registry.model import RegisteredView
    from featurestore.versions import RunTarget


def plan_run(
    m: Materializer, rv: RegisteredView, start: datetime | None, end: datetime, incremental: bool
) -> AggregatesAt:
    """What one run of ``rv`` reads and writes (see the module docstring).

    With a created column, it reads the greatest created time of the events the new partial states may
    take in (one query), so that every query of the run uses the same ``frozen.created_mark``.
    """
    plan = plan_aggregates_at(rv, m.root, end=end, start=start)
    has_created = bool(rv.view.source.created_timestamp_field)
    mark = m.watermark_for(rv) if incremental else None
    since = new_since = late_created = None
    if mark is not None and mark.event_time <= end:
        since = mark.event_time
        # No created time to spot late rows: the look-back window's events are treated as new.
        new_since = since if has_created else since - m.lookback
        # Late rows landed after the last run: created after the greatest created time it saw, or after
        # its end if that is earlier (rows stamped later than the end were in the source already, and a
        # late row can be stamped before them), or after its end when it saw no created time at all.
        late_created = _earliest(since, mark.created_time) if has_created else None
    base = frozen = None
    if plan.lifetime:
        store = PartialStore(m.root)
        exact = exact_times(plan.scan)
        current = store.current(rv.name, rv.data_fingerprint, nanoseconds=exact) if incremental else None
        freeze_at = end if has_created else end - m.lookback
        if current is not None and current.as_of <= freeze_at:
            base = current
        path = store.new_file(rv.name, rv.data_fingerprint)
        created_mark = _partials_mark(m, plan, freeze_at, base) if has_created else None
        frozen = LifetimePartials(path=str(path), as_of=freeze_at, created_mark=created_mark)
    return AggregatesAt(
        view=plan.view,
        scan=plan.scan,
        keys=plan.keys,
        aggregates=plan.aggregates,
        end=end,
        start=start,
        since=since,
        new_since=new_since,
        late_created=late_created,
        base=base,
        frozen=frozen,
    )


def _partials_mark(
    m: Materializer, plan: AggregatesAt, freeze_at: datetime, base: LifetimePartials | None
) -> datetime | None:
    """The created mark of the partial states taken at ``freeze_at``: they hold the events created at
    the latest then (or with no created time). It is the greatest created time among the events they
    may take in, capped at ``freeze_at``, and never below the stored states' mark. A row created later
    stays out of them (the value query reads it separately) until a run whose mark passes it, so a late
    row is added exactly once, whenever it lands."""
    after = None if base is None else base.created_mark
    sql = renderer_for(m.engine.capabilities)
    found = m.engine.to_arrow(sql.render_created_mark(plan.scan, freeze_at, after)).column(0)[0].as_py()
    if found is None:
        return after
    mark: datetime = min(found.replace(tzinfo=None), freeze_at)
    return mark if after is None else max(mark, after)


def run_aggregation_view(
    m: Materializer,
    rv: RegisteredView,
    target: RunTarget,
    start: datetime | None,
    end: datetime,
    incremental: bool,
) -> ViewRun:
    """Materialize one aggregation view as of ``end``; the watermark advances after the last write."""
    from pathlib import Path

    from featurestore.materialize import ViewRun

    plan = plan_run(m, rv, start, end, incremental)
    run = ViewRun(view=rv.name, start=start, end=end)
    partials = PartialStore(m.root)
    sql = renderer_for(m.engine.capabilities)
    try:
        if plan.frozen is not None:
            m.engine.to_parquet(sql.render_partials(plan), Path(plan.frozen.path))
        stats = m.engine.to_arrow(sql.render_aggregate_stats(plan)).to_pylist()[0]
        run.rows_read = int(stats["rows_read"] or 0)
        run.rows_skipped = int(stats["rows_skipped"] or 0)
        m.write(target, m.engine.batches(sql.render_aggregates_at(plan), m.batch_size), run)
    except BaseException:
        if plan.frozen is not None:
            partials.discard(Path(plan.frozen.path))
        raise
    m.finish(target, run, end, stats["max_created"])  # the version's created mark never moves back
    if plan.frozen is not None:
        mark = _latest(stats["partials_created"], None if plan.base is None else plan.base.created_mark)
        partials.commit(
            rv.name,
            rv.data_fingerprint,
            LifetimePartials(plan.frozen.path, plan.frozen.as_of, mark),
            nanoseconds=exact_times(plan.scan),
        )
    return run


def _earliest(a: datetime, b: datetime | None) -> datetime:
    return a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None else max(a, b)
