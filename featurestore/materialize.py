"""The write path: latest values per entity -> the online store, streamed in Arrow batches.

For each view: DuckDB computes the latest row per entity as of ``end`` (same tie rule as training
sets); batches are written with newer-wins, so reruns and concurrent jobs converge; the view's
watermark advances only after its last batch is written. A run killed part-way leaves the old
watermark, and running it again ends in the state of one clean run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.errors import MaterializationError
from featurestore.namespaces import online_view
from featurestore.plan import LatestPerKey, plan_latest
from featurestore.registry.model import RegisteredView, Registry
from featurestore.registry.state import StateStore, Watermark
from featurestore.sql import render_latest, render_latest_stats

if TYPE_CHECKING:
    from featurestore.engines.base import Engine
    from featurestore.online.base import OnlineStore

Progress = Callable[[str, int], None]
"""Called with (view name, entities written so far in this view)."""


@dataclass
class ViewRun:
    """What one view's materialization did."""

    view: str
    start: datetime | None
    end: datetime
    rows_read: int = 0
    rows_skipped: int = 0
    entities_written: int = 0
    seconds: float = 0.0


@dataclass
class MaterializeSummary:
    runs: list[ViewRun] = field(default_factory=list)

    @property
    def entities_written(self) -> int:
        return sum(r.entities_written for r in self.runs)

    @property
    def rows_read(self) -> int:
        return sum(r.rows_read for r in self.runs)

    @property
    def rows_skipped(self) -> int:
        return sum(r.rows_skipped for r in self.runs)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.runs)


def to_naive_utc(value: datetime) -> datetime:
    """Plans use naive UTC; aware values are converted, naive ones are taken as UTC."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def select_views(registry: Registry, views: Iterable[str] | None) -> list[RegisteredView]:
    """The named views (all online views by default); a view with ``online=False`` is refused."""
    if views is None:
        return [rv for rv in registry.views.values() if rv.view.online]
    chosen = []
    for name in views:
        rv = registry.view(name)
        if not rv.view.online:
            raise MaterializationError(
                f"feature view {name!r}{rv.view.where()} has online=False; set online=True to materialize it"
            )
        chosen.append(rv)
    return chosen


class Materializer:
    """Runs materialization for a registry, an engine, an online store and a state store."""

    def __init__(
        self,
        registry: Registry,
        engine: Engine,
        store: OnlineStore,
        state: StateStore,
        root: Path,
        *,
        batch_size: int,
        lookback: timedelta,
        progress: Progress | None = None,
    ) -> None:
        self.registry = registry
        self.engine = engine
        self.store = store
        self.state = state
        self.root = root
        self.batch_size = batch_size
        self.lookback = lookback
        self.progress = progress

    def run(
        self, views: list[RegisteredView], *, start: datetime | None, end: datetime, incremental: bool
    ) -> MaterializeSummary:
        end = to_naive_utc(end)
        start = None if start is None else to_naive_utc(start)
        if start is not None and start > end:
            raise MaterializationError(f"start {start} is after end {end}; swap them")
        summary = MaterializeSummary()
        for rv in views:
            summary.runs.append(self._run_view(rv, start, end, incremental))
        return summary

    def plan_for(
        self, rv: RegisteredView, start: datetime | None, end: datetime, incremental: bool
    ) -> LatestPerKey:
        """The latest-value plan of one view; incremental runs read only what changed since the watermark."""
        changed_since = None
        if incremental:
            mark = self.state.watermark(rv.name, rv.data_fingerprint)
            if mark is not None:
                if rv.view.source.created_timestamp_field:
                    changed_since = (mark.event_time, mark.created_time)
                else:
                    # No created time to spot late rows: re-read a look-back window before the mark.
                    changed_since = (mark.event_time - self.lookback, None)
        return plan_latest(rv, self.root, start=start, end=end, changed_since=changed_since)

    def _run_view(
        self, rv: RegisteredView, start: datetime | None, end: datetime, incremental: bool
    ) -> ViewRun:
        if rv.view.aggregations:  # windowed aggregates as of `end`: materialize_window.py
            from featurestore.materialize_window import run_aggregation_view

            return run_aggregation_view(self, rv, start, end, incremental)
        began = time.perf_counter()
        plan = self.plan_for(rv, start, end, incremental)
        run = ViewRun(view=rv.name, start=start, end=end)
        stats = self.engine.to_arrow(render_latest_stats(plan)).to_pylist()[0]
        run.rows_read = int(stats["rows_read"] or 0)
        run.rows_skipped = int(stats["rows_skipped"] or 0)
        target = online_view(self.registry.project, rv)
        self.state.note_namespace(rv.name, rv.data_fingerprint)
        batches = (b for b in self.engine.batches(render_latest(plan), self.batch_size) if b.num_rows)
        # write_batches keeps one batch in flight, so the query and the store work at the same time.
        for written in self.store.write_batches(target, batches):
            run.entities_written += written
            if self.progress is not None:
                self.progress(rv.name, run.entities_written)
        previous = self.state.watermark(rv.name, rv.data_fingerprint)
        max_created = stats["max_created"]
        if previous is not None and previous.created_time is not None:
            max_created = max(previous.created_time, max_created) if max_created else previous.created_time
        self.state.advance(
            rv.name,
            Watermark(
                version=rv.data_fingerprint,
                event_time=end,
                created_time=max_created,
                updated_at=datetime.now(UTC).replace(tzinfo=None),
                entities_written=run.entities_written,
            ),
        )
        run.seconds = time.perf_counter() - began
        return run
