"""The strategy of aggregation views: every aggregate per entity as of the run's end ``T``, written online
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

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from featurestore.materialize.strategy import Reads, ReadStats, ViewRequest
from featurestore.plan.window import AggregatesAt, plan_aggregates_at
from featurestore.registry.partials import LifetimePartials, PartialStore
from featurestore.sql import renderer_for
from featurestore.sql.timestamps import exact_times

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.engines.base import Engine
    from featurestore.registry.model import RegisteredView


class Aggregates:
    """Aggregation views: one ``AggregatesAt`` plan per run, lifetime partial states kept between runs."""

    kind = "aggregates"

    def __init__(self, reads: Reads) -> None:
        self.reads = reads

    def plan(self, request: ViewRequest) -> AggregatesJob:
        """What one run reads and writes (see the module docstring).

        With a created column, it reads the greatest created time of the events the new partial states
        may take in (one query), so that every query of the run uses the same ``frozen.created_mark``.
        """
        rv, end, reads = request.rv, request.end, self.reads
        plan = plan_aggregates_at(rv, reads.root, end=end, start=request.start)
        has_created = bool(rv.view.source.created_timestamp_field)
        mark = request.mark if request.incremental else None
        since = new_since = late_created = None
        if mark is not None and mark.event_time <= end:
            since = mark.event_time
            # No created time to spot late rows: the look-back window's events are treated as new.
            new_since = since if has_created else since - reads.lookback
            # Late rows landed after the last run: created after the greatest created time it saw, or
            # after its end if that is earlier (rows stamped later than the end were in the source
            # already, and a late row can be stamped before them), or after its end when it saw no
            # created time at all.
            late_created = _earliest(since, mark.created_time) if has_created else None
        base = frozen = None
        if plan.lifetime:
            store = PartialStore(reads.root)
            exact = exact_times(plan.scan)
            current = (
                store.current(rv.name, rv.data_fingerprint, nanoseconds=exact)
                if request.incremental
                else None
            )
            freeze_at = end if has_created else end - reads.lookback
            if current is not None and current.as_of <= freeze_at:
                base = current
            path = store.new_file(rv.name, rv.data_fingerprint)
            created_mark = self._partials_mark(plan, freeze_at, base) if has_created else None
            frozen = LifetimePartials(path=path, as_of=freeze_at, created_mark=created_mark)
        plan = AggregatesAt(
            view=plan.view,
            scan=plan.scan,
            keys=plan.keys,
            aggregates=plan.aggregates,
            end=end,
            start=request.start,
            since=since,
            new_since=new_since,
            late_created=late_created,
            base=base,
            frozen=frozen,
        )
        return AggregatesJob(reads.engine, PartialStore(reads.root), rv, plan)

    def _partials_mark(
        self, plan: AggregatesAt, freeze_at: datetime, base: LifetimePartials | None
    ) -> datetime | None:
        """The created mark of the partial states taken at ``freeze_at``: they hold the events created
        at the latest then (or with no created time). It is the greatest created time among the events
        they may take in, capped at ``freeze_at``, and never below the stored states' mark. A row created
        later stays out of them (the value query reads it separately) until a run whose mark passes it,
        so a late row is added exactly once, whenever it lands."""
        after = None if base is None else base.created_mark
        sql = renderer_for(self.reads.engine.capabilities).render_created_mark(plan.scan, freeze_at, after)
        found = self.reads.engine.to_arrow(sql).column(0)[0].as_py()
        if found is None:
            return after
        mark: datetime = min(found.replace(tzinfo=None), freeze_at)
        return mark if after is None else max(mark, after)


@dataclass
class AggregatesJob:
    """One run of an aggregation view: the new partial states (lifetime aggregates), a stats query,
    then every aggregate per entity streamed in batches; the partial states become current on commit."""

    engine: Engine
    partials: PartialStore
    rv: RegisteredView
    plan: AggregatesAt

    def __post_init__(self) -> None:
        # The one place this job renders SQL (the created mark is rendered while planning).
        plan = self.plan
        sql = renderer_for(self.engine.capabilities)
        self._partials_sql = None if plan.frozen is None else sql.render_partials(plan)
        self._stats_sql = sql.render_aggregate_stats(plan)
        self._rows_sql = sql.render_aggregates_at(plan)
        self._partials_created: datetime | None = None

    def prepare(self) -> ReadStats:
        if self.plan.frozen is not None and self._partials_sql is not None:
            self.partials.write(self.engine, self._partials_sql, self.plan.frozen.path)
        row = self.engine.to_arrow(self._stats_sql).to_pylist()[0]
        self._partials_created = row["partials_created"]
        return ReadStats.from_row(row)

    def batches(self, batch_size: int) -> Iterable[pa.RecordBatch]:
        return self.engine.batches(self._rows_sql, batch_size)

    def rows_query(self) -> str:
        return self._rows_sql

    def commit(self) -> None:
        """The new partial states become current; their created mark never moves back."""
        frozen = self.plan.frozen
        if frozen is None:
            return
        base_mark = None if self.plan.base is None else self.plan.base.created_mark
        self.partials.commit(
            self.rv.name,
            self.rv.data_fingerprint,
            LifetimePartials(frozen.path, frozen.as_of, _latest(self._partials_created, base_mark)),
            nanoseconds=exact_times(self.plan.scan),
        )

    def discard(self) -> None:
        if self.plan.frozen is not None:
            self.partials.discard(self.plan.frozen.path)


def _earliest(a: datetime, b: datetime | None) -> datetime:
    return a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None else max(a, b)
