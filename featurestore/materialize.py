"""The write path: latest values per entity -> the online store, streamed in Arrow batches.

For each view: the engine computes the latest row per entity as of ``end`` (same tie rule as training
sets); batches are written with newer-wins, so reruns and concurrent jobs converge. A run writes the
version of the applied definition (``versions.py``): a pending version is promoted when its run has
caught up with the active one. The version's watermark advances only after its last batch is written,
and a marker in the online store records the same, so a store that was flushed, replaced or restored is
noticed by the next incremental run (which then re-reads what the store lacks). A run killed part-way
leaves the old watermark, and running it again ends in the state of one clean run.

Time is bounded: an ``end`` later than now plus ``clock_skew`` is refused before anything is written, and
rows whose ttl has already run out by the wall clock are counted (``rows_expired``), never silently lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.config import format_duration
from featurestore.errors import FutureTimeError, MaterializationError
from featurestore.plan import LatestPerKey, plan_latest
from featurestore.registry.model import RegisteredView, Registry
from featurestore.registry.state import StateStore, Watermark, utcnow
from featurestore.sql import renderer_for
from featurestore.versions import (
    DefinitionGone,
    RunTarget,
    abort_run,
    begin_run,
    delete_retired,
    finish_run,
    has_retired,
    marker_text,
    store_watermark,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.engines.base import Engine
    from featurestore.online.base import OnlineStore, OnlineView

Progress = Callable[[str, int], None]
"""Called with (view name, entities written so far in this view)."""

log = logging.getLogger("featurestore.materialize")


@dataclass
class ViewRun:
    """What one view's materialization did."""

    view: str
    start: datetime | None
    end: datetime
    rows_read: int = 0
    rows_skipped: int = 0
    rows_expired: int = 0
    """Latest rows whose ttl had already run out by the wall clock: not written (they would read EXPIRED)."""
    entities_written: int = 0
    seconds: float = 0.0
    version: str = ""
    promoted: bool = False
    """The run completed a pending version, which now serves (the version it replaced is deleted)."""
    pending: bool = False
    """The version written is pending: it serves once materialized up to the active version's watermark."""
    notes: list[str] = field(default_factory=list)


@dataclass
class MaterializeSummary:
    runs: list[ViewRun] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    evicted_keys: int | None = None
    """Keys the Redis server evicted while the run wrote (None: not known)."""
    values_deleted: int = 0
    """Values of retired versions deleted after the run."""

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
    def rows_expired(self) -> int:
        return sum(r.rows_expired for r in self.runs)

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
        clock_skew: timedelta = timedelta(minutes=5),
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self.registry = registry
        self.engine = engine
        self.store = store
        self.state = state
        self.root = root
        self.batch_size = batch_size
        self.lookback = lookback
        self.clock_skew = clock_skew
        self.overwrite = overwrite
        self.progress = progress
        self._marks: dict[str, Watermark | None] = {}

    def run(
        self, views: list[RegisteredView], *, start: datetime | None, end: datetime, incremental: bool
    ) -> MaterializeSummary:
        end = to_naive_utc(end)
        start = None if start is None else to_naive_utc(start)
        check_not_future(end, self.clock_skew, "end")
        if start is not None and start > end:
            raise MaterializationError(f"start {start} is after end {end}; swap them")
        summary = MaterializeSummary()
        before = self.store.diagnostics()
        if before.may_evict:
            summary.warnings.append(
                f"the Redis server may evict feature values (maxmemory-policy {before.eviction_policy}, "
                f"maxmemory {before.maxmemory} bytes): evicted values read NOT_FOUND. Set maxmemory-policy "
                "noeviction (or give it more memory)"
            )
        for rv in views:
            summary.runs.append(self._run_view(rv, start, end, incremental))
        after = self.store.diagnostics()
        if before.evicted_keys is not None and after.evicted_keys is not None:
            summary.evicted_keys = after.evicted_keys - before.evicted_keys
            if summary.evicted_keys:
                summary.warnings.append(
                    f"the Redis server evicted {summary.evicted_keys:,} keys while this run wrote: some "
                    "values are missing online. Set maxmemory-policy noeviction and materialize again"
                )
        if has_retired(self.state):
            summary.values_deleted = delete_retired(self.state, self.store)
        return summary

    def watermark_for(self, rv: RegisteredView) -> Watermark | None:
        """Where an incremental run of ``rv`` starts: its version's watermark, unless the online store
        holds less than the state says (see ``_start_mark``)."""
        return self._marks.get(rv.name)

    def _start_mark(self, target: RunTarget, incremental: bool) -> tuple[Watermark | None, str | None]:
        mark = target.record.watermark
        if not incremental or mark is None:
            return None, None
        stored = store_watermark(self.store, target.record)
        if stored is None:
            return None, (
                f"the online store holds nothing of version {target.record.short} (a new, flushed or "
                "switched store): full run"
            )
        if stored.event_time < mark.event_time:
            return stored, (
                f"the online store holds version {target.record.short} only up to {stored.event_time} "
                f"(the state says {mark.event_time}; restored from an older copy?): re-read from there"
            )
        return mark, None

    def plan_for(
        self, rv: RegisteredView, start: datetime | None, end: datetime, incremental: bool
    ) -> LatestPerKey:
        """The latest-value plan of one view; incremental runs read only what changed since the watermark."""
        changed_since: tuple[datetime, datetime | None] | None = None
        mark = self.watermark_for(rv) if incremental else None
        if mark is not None:
            if rv.view.source.created_timestamp_field:
                # Late rows: created after the greatest created time the last run saw, or after its
                # watermark, whichever is earlier (a run that saw no created time still finds them).
                late = (
                    mark.event_time if mark.created_time is None else min(mark.created_time, mark.event_time)
                )
                changed_since = (mark.event_time, late)
            else:
                # No created time to spot late rows: re-read a look-back window before the mark.
                changed_since = (mark.event_time - self.lookback, None)
        return plan_latest(rv, self.root, start=start, end=end, changed_since=changed_since)

    def _run_view(
        self, rv: RegisteredView, start: datetime | None, end: datetime, incremental: bool
    ) -> ViewRun:
        from featurestore.registry import read_registry

        began = time.perf_counter()
        try:
            applied = read_registry(self.root)
            target = begin_run(self.state, self.registry.project, rv, rebuild=self.overwrite, applied=applied)
        except DefinitionGone as exc:
            skipped = ViewRun(view=rv.name, start=start, end=end, notes=[f"skipped: {exc}"])
            _log_run(skipped, "skipped", incremental, began, reason=str(exc))
            return skipped
        try:
            mark, note = self._start_mark(target, incremental)
            self._marks[rv.name] = mark
            if rv.view.aggregations:  # windowed aggregates as of `end`: materialize_window.py
                from featurestore.materialize_window import run_aggregation_view

                run = run_aggregation_view(self, rv, target, start, end, incremental)
            else:
                run = self._run_latest(rv, target, start, end, incremental)
        except BaseException as exc:
            abort_run(self.state, target)
            failed = ViewRun(view=rv.name, start=start, end=end, version=target.record.short)
            _log_run(failed, "failed", incremental, began, reason=f"{type(exc).__name__}: {exc}")
            raise
        if note:
            run.notes.insert(0, note)
        run.seconds = time.perf_counter() - began
        _log_run(run, "written", incremental, began)
        return run

    def _run_latest(
        self, rv: RegisteredView, target: RunTarget, start: datetime | None, end: datetime, incremental: bool
    ) -> ViewRun:
        plan = self.plan_for(rv, start, end, incremental)
        run = ViewRun(view=rv.name, start=start, end=end)
        sql = renderer_for(self.engine.capabilities)
        stats = self.engine.to_arrow(sql.render_latest_stats(plan)).to_pylist()[0]
        run.rows_read = int(stats["rows_read"] or 0)
        run.rows_skipped = int(stats["rows_skipped"] or 0)
        self.write(target, self.engine.batches(sql.render_latest(plan), self.batch_size), run)
        self.finish(target, run, end, stats["max_created"])
        return run

    def write(self, target: RunTarget, batches: Iterable[pa.RecordBatch], run: ViewRun) -> None:
        """Write a stream of latest values to the run's version, counting what is written and expired."""
        live = drop_expired(target.view, (b for b in batches if b.num_rows), run)
        # write_batches keeps one batch in flight, so the query and the store work at the same time.
        for written in self.store.write_batches(target.view, live):
            run.entities_written += written
            if self.progress is not None:
                self.progress(run.view, run.entities_written)
        if run.rows_expired:
            ttl = format_duration(target.view.ttl)
            rows = f"{run.rows_expired:,} row{'' if run.rows_expired == 1 else 's'}"
            run.notes.append(f"{rows} already expired by now (ttl {ttl}): not written")

    def finish(self, target: RunTarget, run: ViewRun, end: datetime, max_created: datetime | None) -> None:
        """Record the completed run: the watermark, the store's marker, and a promotion if it is due."""
        mark = Watermark(
            version=target.record.version,
            event_time=end,
            created_time=max_created,
            updated_at=utcnow(),
            entities_written=run.entities_written,
        )
        outcome = finish_run(self.state, target, mark)
        run.version = outcome.record.short
        if outcome.orphaned:
            run.notes.append(
                f"version {outcome.record.short} was retired while this run wrote it (its definition "
                "changed or was removed): its values are deleted"
            )
            return
        if outcome.record.watermark is not None:
            self.store.write_marker(target.record.namespace, marker_text(outcome.record.watermark))
        run.promoted = outcome.promoted
        run.pending = outcome.record.status == "pending"
        if outcome.promoted and outcome.replaced is not None:
            run.notes.append(f"version {outcome.record.short} now serves (replaced {outcome.replaced.short})")
        elif run.pending:
            active = self.state.active(target.record.view)
            upto = None if active is None or active.watermark is None else active.watermark.event_time
            run.notes.append(
                f"version {outcome.record.short} stays pending: the active version is materialized up to "
                f"{upto}; materialize up to there, or run `featurestore promote {run.view}`"
            )


def _log_run(run: ViewRun, status: str, incremental: bool, began: float, reason: str = "") -> None:
    """One log line per view and run, its numbers as structured fields (``extra``) for JSON logs.

    ``status``: written, skipped (the definition went away before the run began) or failed.
    """
    seconds = round(time.perf_counter() - began, 3)
    watermark = run.end.replace(tzinfo=UTC).isoformat() if status == "written" else None
    fields = {
        "view": run.view,
        "version": run.version,
        "status": status,
        "mode": "incremental" if incremental else "full",
        "rows_read": run.rows_read,
        "rows_skipped": run.rows_skipped,
        "rows_expired": run.rows_expired,
        "entities_written": run.entities_written,
        "seconds": seconds,
        "watermark": watermark,
        "pending": run.pending,
        "promoted": run.promoted,
    }
    if status == "written":
        log.info(
            "materialized %s version %s: %s rows read, %s skipped, %s expired, %s entities written in %.2fs; "
            "watermark %s",
            run.view,
            run.version,
            f"{run.rows_read:,}",
            f"{run.rows_skipped:,}",
            f"{run.rows_expired:,}",
            f"{run.entities_written:,}",
            seconds,
            watermark,
            extra=fields,
        )
    elif status == "skipped":
        log.info("skipped %s: %s", run.view, reason, extra={**fields, "reason": reason})
    else:
        log.error(
            "materializing %s version %s failed after %.2fs (watermark unchanged): %s",
            run.view,
            run.version,
            seconds,
            reason,
            extra={**fields, "error": reason},
        )


def check_not_future(value: datetime, clock_skew: timedelta, what: str) -> None:
    """Refuse a time later than now plus ``clock_skew``: values as of the future would pin the online
    store (newer wins) and a watermark there would make every later incremental run read nothing."""
    limit = utcnow() + clock_skew
    if value > limit:
        raise FutureTimeError(
            f"{what} {value.isoformat()} (UTC) is later than now plus the allowed clock skew "
            f"({limit.isoformat(timespec='seconds')} UTC): materialize up to now at most (`--end now`), "
            "or raise [materialize] clock_skew in featurestore.toml if this host's clock is behind"
        )


def drop_expired(
    view: OnlineView, batches: Iterable[pa.RecordBatch], run: ViewRun
) -> Iterator[pa.RecordBatch]:
    """The batches without the rows whose ttl has run out by the wall clock (counted in ``run``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from featurestore.online.base import EVENT_TS

    ttl_us = view.ttl_us
    for batch in batches:
        if ttl_us is None:
            yield batch
            continue
        now_us = time.time_ns() // 1000
        ts = batch.column(EVENT_TS).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        keep = pc.greater_equal(pc.add(ts, pa.scalar(ttl_us, pa.int64())), pa.scalar(now_us, pa.int64()))
        kept = int(pc.sum(keep).as_py() or 0)
        run.rows_expired += batch.num_rows - kept
        if kept == batch.num_rows:
            yield batch
        elif kept:
            yield batch.filter(keep)
