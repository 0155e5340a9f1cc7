"""The run loop: every chosen view, one after the other, each by the strategy of its kind.

For each view: the run registers as a writer of the view's version (``versions.py``), finds where an
incremental run starts, lets the view's strategy plan the run, streams the strategy's batches into the
online store (newer-wins, expired rows dropped and counted) or, when the engine writes from its workers
and the store has a sink spec, has each partition of the strategy's rows query write itself
(``executors.py``), then records the run: the version's
watermark, the store's marker, a promotion when due. A run that fails anywhere before its watermark
advanced is deregistered and leaves the old watermark. The loop is handed its collaborators; it knows
no view kind and no facade.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from featurestore.config import MaterializeConfig, format_duration
from featurestore.errors import MaterializationError
from featurestore.materialize.aggregates import Aggregates
from featurestore.materialize.executors import COUNTS, PROFILE, PartitionWriter, executor_sink
from featurestore.materialize.latest import LatestValues
from featurestore.materialize.run_log import log_run
from featurestore.materialize.statistics import RunStatistics, declared_thresholds, drift_from_previous
from featurestore.materialize.strategy import MaterializeStrategy, Reads, ViewJob, ViewRequest
from featurestore.materialize.summary import MaterializeSummary, ViewRun
from featurestore.materialize.time_bounds import Clock, check_not_future, drop_expired, to_naive_utc
from featurestore.registry.backend import RegistryBackend
from featurestore.registry.model import RegisteredView, Registry
from featurestore.registry.state import Watermark, utcnow
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

    from featurestore.engines.base import Engine, PartitionWriting
    from featurestore.online.base import OnlineStore, SinkSpec
    from featurestore.stats import Thresholds

Progress = Callable[[str, int], None]
"""Called with (view name, entities written so far in this view)."""

ChooseStrategy = Callable[[RegisteredView, Reads], MaterializeStrategy]


def strategy_for(rv: RegisteredView, reads: Reads) -> MaterializeStrategy:
    """The strategy of a view's kind: ``Aggregates`` for a view that declares aggregations,
    ``LatestValues`` otherwise. The one place a view's kind decides how it is materialized."""
    if rv.view.aggregations:
        return Aggregates(reads)
    return LatestValues(reads)


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
    """Runs materialization for a registry, an engine, an online store and a state store.

    ``settings``: batch size, look-back window and clock skew (``[materialize]`` of featurestore.toml).
    ``clock``: the wall clock expired rows are counted by. ``overwrite``: rewrite each view into a fresh
    version (``materialize --overwrite``). ``choose``: the strategy per view (``strategy_for``).

    With an engine that writes from its workers (Spark) and a store with a sink spec (Redis, Redis
    Cluster), the values are written by the workers (``executors.py``); an embedded store with
    workers on other machines is refused here, before anything runs.
    """

    def __init__(
        self,
        registry: Registry,
        engine: Engine,
        store: OnlineStore,
        state: RegistryBackend,
        root: Path,
        *,
        settings: MaterializeConfig,
        clock: Clock,
        overwrite: bool = False,
        progress: Progress | None = None,
        choose: ChooseStrategy = strategy_for,
    ) -> None:
        self.registry = registry
        self.store = store
        self.state = state
        self.root = root
        self.settings = settings
        self.clock = clock
        self.overwrite = overwrite
        self.progress = progress
        self.choose = choose
        self.reads = Reads(engine, root, settings.lookback)
        self.sink = executor_sink(engine, store)

    def run(
        self, views: list[RegisteredView], *, start: datetime | None, end: datetime, incremental: bool
    ) -> MaterializeSummary:
        end = to_naive_utc(end)
        start = None if start is None else to_naive_utc(start)
        check_not_future(end, self.settings.clock_skew, "end")
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

    def _start_mark(self, target: RunTarget, incremental: bool) -> tuple[Watermark | None, str | None]:
        """Where an incremental run starts: the version's watermark, unless the online store holds less
        than the state says (a new, flushed, switched or restored store); and a note saying so."""
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

    def _run_view(
        self, rv: RegisteredView, start: datetime | None, end: datetime, incremental: bool
    ) -> ViewRun:
        began = time.perf_counter()
        try:
            applied = self.state.read_registry()
            target = begin_run(self.state, self.registry.project, rv, rebuild=self.overwrite, applied=applied)
        except DefinitionGone as exc:
            skipped = ViewRun(view=rv.name, start=start, end=end, notes=[f"skipped: {exc}"])
            log_run(skipped, "skipped", incremental, began, reason=str(exc))
            return skipped
        try:
            mark, note = self._start_mark(target, incremental)
            job = self.choose(rv, self.reads).plan(ViewRequest(rv, start, end, incremental, mark))
            run = ViewRun(view=rv.name, start=start, end=end)
            try:
                stats = job.prepare()
                run.rows_read, run.rows_skipped = stats.rows_read, stats.rows_skipped
                if self._validate(rv, target, job, run, (incremental, began)):
                    job.discard()
                    return run
                if self.sink is None:
                    self._write(target, job.batches(self.settings.batch_size), run)
                else:
                    self._write_from_workers(target, self.sink, job.rows_query(), run)
            except BaseException:
                job.discard()
                raise
            self._finish(target, run, end, stats.max_created, declared_thresholds(rv))
            job.commit()
        except BaseException as exc:
            abort_run(self.state, target)
            failed = ViewRun(view=rv.name, start=start, end=end, version=target.record.short)
            log_run(failed, "failed", incremental, began, reason=f"{type(exc).__name__}: {exc}")
            raise
        if note:
            run.notes.insert(0, note)
        run.seconds = time.perf_counter() - began
        log_run(run, "written", incremental, began)
        return run

    def _validate(
        self, rv: RegisteredView, target: RunTarget, job: ViewJob, run: ViewRun, log: tuple[bool, float]
    ) -> bool:
        """Evaluate the view's checks over the rows the run would write, before anything is written
        (``validation/engine.py``); the report goes in ``run.validation``, warnings in its notes. True when
        an error-severity check failed: the run is then recorded as failed and deregistered, its watermark
        unchanged; the caller writes nothing and goes on with the next view."""
        from featurestore.validation.engine import validate_in_engine
        from featurestore.validation.rules import rules_of

        rules = rules_of(rv)
        if not rules:
            return False
        report = validate_in_engine(self.reads.engine, rules, job.rows_query(), rv.view.join_keys, run.end)
        run.validation = report
        run.notes.extend(f"validation: {v.line()}" for v in report.violations)
        if report.ok:
            return False
        run.stopped = True
        run.version = target.record.short
        abort_run(self.state, target)
        broken = "; ".join(v.line() for v in report.errors)
        run.notes.insert(0, f"stopped by validation, nothing written (watermark unchanged): {broken}")
        incremental, began = log
        run.seconds = time.perf_counter() - began
        log_run(run, "failed", incremental, began, reason=f"validation: {broken}")
        return True

    def _write(self, target: RunTarget, batches: Iterable[pa.RecordBatch], run: ViewRun) -> None:
        """Write a stream of values to the run's version, counting what is written and expired, and
        profiling it on the way (``statistics.py``)."""
        live = drop_expired(target.view, (b for b in batches if b.num_rows), run, self.clock)
        statistics = RunStatistics(target.view) if self.settings.statistics else None
        if statistics is not None:
            live = statistics.watch(live)
        # write_batches keeps one batch in flight, so the query and the store work at the same time.
        for written in self.store.write_batches(target.view, live):
            run.entities_written += written
            if self.progress is not None:
                self.progress(run.view, run.entities_written)
        _note_expired(target, run)
        if statistics is not None:
            run.profiles = statistics.profiles(target.record.short)
            run.profile_seconds = statistics.seconds

    def _write_from_workers(self, target: RunTarget, sink: SinkSpec, rows_sql: str, run: ViewRun) -> None:
        """Each partition of ``rows_sql`` written by the engine's workers; returns once all succeeded."""
        engine: PartitionWriting = self.reads.engine  # type: ignore[assignment]  # capabilities.writes_online
        profile = self.settings.statistics
        writer = PartitionWriter(sink, target.view, self.clock, profile)
        done = engine.write_partitions(rows_sql, writer, COUNTS, (PROFILE,) if profile else ())
        run.entities_written += done["written"]
        run.rows_expired += done["expired"]
        if profile:
            statistics = RunStatistics(target.view)
            statistics.merge(done[PROFILE])
            run.profiles = statistics.profiles(target.record.short)
            run.profile_seconds = statistics.seconds
        if self.progress is not None:
            self.progress(run.view, run.entities_written)
        _note_expired(target, run)

    def _finish(
        self,
        target: RunTarget,
        run: ViewRun,
        end: datetime,
        max_created: datetime | None,
        limits: Mapping[str, Thresholds] | None = None,
    ) -> None:
        """Record the completed run: the watermark, the store's marker, and a promotion if it is due."""
        mark = Watermark(
            version=target.record.version,
            event_time=end,
            created_time=max_created,
            updated_at=utcnow(),
            entities_written=run.entities_written,
        )
        document = None
        if run.profiles is not None:
            document = run.profiles.to_json()
            document["drift"] = drift_from_previous(self.state, run.view, run.profiles, limits)
        outcome = finish_run(self.state, target, mark, run.rows_read, document)
        run.version = outcome.record.short
        run.run_number = outcome.run
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


def _note_expired(target: RunTarget, run: ViewRun) -> None:
    if run.rows_expired:
        ttl = format_duration(target.view.ttl)
        rows = f"{run.rows_expired:,} row{'' if run.rows_expired == 1 else 's'}"
        run.notes.append(f"{rows} already expired by now (ttl {ttl}): not written")
