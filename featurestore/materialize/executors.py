"""Materialization written from the engine's workers (Spark's executors) instead of through the driver.

When the engine has ``capabilities.writes_online`` and the online store a sink spec
(``store.sink_spec()``: Redis, Redis Cluster), the run loop hands the strategy's rows query to
``engine.write_partitions`` with a :class:`PartitionWriter`: each partition opens the store from the
spec and writes its rows with the store's own ``write_batches`` (same codec, keys, newer-wins script and
expiry as the driver path), dropping and counting expired rows as the driver does. Only the counts come
back. The loop advances the watermark after the job returned, that is after every partition succeeded;
a failed job fails the run with the old watermark. A task Spark retries writes the same values again:
newer-wins (an equal event time replaces) makes that harmless, and an older retry never replaces a
newer value written meanwhile.

The embedded SQLite store has no sink spec: with a ``local`` Spark master the run goes through the
driver as with DuckDB; with any other master it is refused before anything runs
(:func:`refuse_embedded_store` from the config, before the Spark session starts;
:func:`executor_sink` from the engine's capabilities).

On a cluster the executors import featurestore: install it (``featurestore[redis]``, the driver's
version) on every worker.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from featurestore.config import SparkConfig, SqliteOnlineConfig
from featurestore.errors import ConfigError
from featurestore.materialize.statistics import RunStatistics
from featurestore.materialize.time_bounds import Clock, drop_expired

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.config import OfflineConfig, OnlineConfig
    from featurestore.engines.base import Engine
    from featurestore.online.base import OnlineStore, OnlineView, SinkSpec

COUNTS = ("rows", "written", "expired")
"""What each partition reports: rows it was given, values stored (newer-wins), rows already expired."""
PROFILE = "profile"
"""The blob a profiling partition reports: its statistics."""


def _refusal(store: str, where: str) -> ConfigError:
    return ConfigError(
        f"the {store} online store cannot be written by Spark executors on {where}: its file is on this "
        'machine only. Use a Redis or Redis Cluster online store ([online] type = "redis"), or a local '
        'Spark master ([offline] master = "local[*]")'
    )


def refuse_embedded_store(offline: OfflineConfig, online: OnlineConfig) -> None:
    """Refuse, from the config alone (before any session starts), an embedded online store with a
    Spark engine whose executors run elsewhere.

    >>> from featurestore.config import SparkConfig, SqliteOnlineConfig
    >>> refuse_embedded_store(SparkConfig(engine="spark", master="local[2]"), SqliteOnlineConfig())
    >>> try:
    ...     refuse_embedded_store(SparkConfig(engine="spark", master="spark://h:7077"), SqliteOnlineConfig())
    ... except ConfigError as exc:
    ...     print(str(exc)[:80])
    the sqlite online store cannot be written by Spark executors on master spark://h
    """
    if not isinstance(offline, SparkConfig) or not isinstance(online, SqliteOnlineConfig):
        return
    from featurestore.engines.spark import is_local_master

    if not is_local_master(offline):
        where = f"remote {offline.remote}" if offline.remote else f"master {offline.master}"
        raise _refusal("sqlite", where)


def executor_sink(engine: Engine, store: OnlineStore) -> SinkSpec | None:
    """The sink the engine's workers write to, or None when the run goes through the driver (an engine
    that cannot write partitions, or an embedded store with workers on this machine). An embedded
    store with workers elsewhere is refused (:class:`ConfigError`)."""
    if not engine.capabilities.writes_online:
        return None
    spec = store.sink_spec()
    if spec is None and not engine.capabilities.runs_on_this_host:
        raise _refusal(store.capabilities.name, "a cluster (not a local master)")
    return spec


@dataclass(frozen=True)
class PartitionWriter:
    """Writes one partition of a view's rows to the online store, where the partition is computed.

    Picklable: a sink spec, the online view and the clock expired rows are counted by (read in the
    worker: the worker's wall clock). Returns ``COUNTS``.
    """

    sink: SinkSpec
    view: OnlineView
    clock: Clock
    profile: bool = False
    """Also profile the values written: the partition's ``Profiles`` document as JSON bytes under
    ``PROFILE``, merged on the driver (``statistics.py``)."""

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> dict[str, int | bytes]:
        tally = _Tally()
        counted = (tally.seen(b) for b in batches if b.num_rows)
        live = drop_expired(self.view, counted, tally, self.clock)
        statistics = RunStatistics(self.view) if self.profile else None
        if statistics is not None:
            live = statistics.watch(live)
        store = self.sink.open()
        try:
            written = sum(store.write_batches(self.view, live))
        finally:
            store.close()
        done: dict[str, int | bytes] = {"rows": tally.rows, "written": written, "expired": tally.rows_expired}
        if statistics is not None:
            done[PROFILE] = json.dumps(statistics.profiles(self.view.version).to_json()).encode()
        return done


class _Tally:
    """Rows a partition was given and, filled by ``drop_expired``, rows already expired."""

    def __init__(self) -> None:
        self.rows = 0
        self.rows_expired = 0

    def seen(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.rows += batch.num_rows
        return batch
