"""The feature logger: served vectors -> Parquet, on a background thread, never blocking a request.

``log()`` runs on the request path: a sampling draw and a ``put_nowait`` on a bounded queue. When the
queue is full the request is dropped and counted (``dropped``), never waited for. The writer thread
turns queued responses into Arrow (one column per join key, the request time, the request data, and
per feature its value and status, always under full ``view__feature`` names and declared types) and
writes one Parquet file per flush (every ``flush_rows`` rows or ``flush_seconds``), atomically, to the
repo's storage (``[storage] url``): ``feature_log/<service>/<YYYY-MM-DD>/<time>-<pid>-<id>.parquet``, by
default under ``.featurestore/``. The process id and a random id in every name keep the files of several
server processes (and of every flush) apart.

``FeatureLogging(path=...)`` on a service: with local storage, a folder (relative to the repo root) that
takes the place of ``.featurestore/feature_log``, as before; with S3 storage, a key prefix under the
storage URL (``s3://bucket/prefix/<path>/<service>/...``).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.registry.model import Registry
    from featurestore.storage import Storage

log = logging.getLogger("featurestore.feature_logging")

LOG_DIR = "feature_log"
REQUEST_TS = "__request_ts"
META_SERVICE = b"featurestore.service"
META_FEATURES = b"featurestore.features"
META_KEYS = b"featurestore.join_keys"
META_REQUEST = b"featurestore.request_fields"
_STOP = object()


@dataclass
class ServiceLog:
    """What is logged for one feature service: where, how often, and the columns' types."""

    service: str
    sample_rate: float
    storage: Storage
    prefix: str
    """The key prefix of the service's files in ``storage``."""
    refs: list[str]
    dtypes: dict[str, str]
    """Full output name (``view__feature``) -> dtype."""
    short: dict[str, str]
    """Short output name -> full name (when short names are unambiguous)."""
    keys: dict[str, str]
    """Join key -> ``int64`` / ``string``."""
    request_fields: dict[str, str]
    pending: list[tuple[Mapping[str, Any], Mapping[str, Any] | None, Mapping[str, Any], float]] = field(
        default_factory=list
    )
    rows: int = 0


def service_logs(registry: Registry, root: Path, storage: Storage | None = None) -> dict[str, ServiceLog]:
    """One :class:`ServiceLog` per feature service that has ``logging`` set; ``storage``: the repo's
    (default ``storage_for(root)``)."""
    from featurestore.storage import LocalStorage, join_key, storage_for

    storage = storage or storage_for(root)
    out = {}
    for name, service in registry.services.items():
        if service.logging is None:
            continue
        refs = service.feature_refs()
        dtypes: dict[str, str] = {}
        keys: dict[str, str] = {}
        request: dict[str, str] = {}
        for ref in refs:
            view, feature = ref.split(":")
            odfv = registry.on_demand_views.get(view)
            if odfv is not None:
                dtypes[f"{view}__{feature}"] = odfv.feature(feature).dtype
                request.update({f.name: f.dtype for f in odfv.request_fields})
                for projection in odfv.view_inputs:
                    rv = registry.view(projection.view.name)
                    keys.update({k: rv.key_dtype(k) for k in rv.view.join_keys})
                continue
            rv = registry.view(view)
            dtypes[f"{view}__{feature}"] = rv.view.feature(feature).dtype
            keys.update({k: rv.key_dtype(k) for k in rv.view.join_keys})
        shorts = [full.split("__", 1)[1] for full in dtypes]
        short = {s: full for s, full in zip(shorts, dtypes, strict=True) if shorts.count(s) == 1}
        target, prefix = storage, join_key(LOG_DIR, name)
        if service.logging.path and storage.is_local:
            folder = Path(service.logging.path)
            target, prefix = LocalStorage(folder if folder.is_absolute() else root / folder), name
        elif service.logging.path:
            prefix = join_key(service.logging.path, name)
        rate = service.logging.sample_rate
        out[name] = ServiceLog(name, rate, target, prefix, refs, dtypes, short, keys, request)
    return out


class LoggedRepo(Protocol):
    """What a ``FeatureLogger`` reads of a repo (a ``FeatureStore`` is one): registry, root, storage."""

    @property
    def registry(self) -> Registry: ...

    @property
    def root(self) -> Path: ...

    @property
    def storage(self) -> Storage: ...


class FeatureLogger:
    """Logs what feature services serve (see the module docstring). Start it, ``log()``, ``close()``."""

    def __init__(
        self,
        store: LoggedRepo,
        *,
        queue_size: int = 10_000,
        flush_rows: int = 10_000,
        flush_seconds: float = 5.0,
        seed: int | None = None,
    ) -> None:
        self._services = service_logs(store.registry, store.root, store.storage)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._flush_rows = flush_rows
        self._flush_seconds = flush_seconds
        self._thread: threading.Thread | None = None
        self._random = random.Random(seed)  # sampling draws; a seed makes them repeatable
        self.dropped = 0
        """Requests not logged because the queue was full."""
        self.dropped_rows = 0
        """Their rows (entities)."""
        self.written = 0
        """Feature vectors (entity rows) written to Parquet."""
        self.failed = 0
        """Rows lost to write errors (each is logged)."""

    @property
    def services(self) -> list[str]:
        return sorted(self._services)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="feature-logger", daemon=True)
            self._thread.start()

    def log(
        self,
        service: str,
        entities: Mapping[str, Any],
        request_data: Mapping[str, Any] | None,
        response: Mapping[str, Any],
        requested_at: float,
    ) -> None:
        """Queue one served response (``{"features", "values", "statuses"}``); never blocks."""
        target = self._services.get(service)
        if target is None:
            return
        if target.sample_rate < 1.0 and self._random.random() >= target.sample_rate:
            return
        try:
            self._queue.put_nowait((service, entities, request_data, response, requested_at))
        except queue.Full:
            self.dropped += 1
            self.dropped_rows += len(next(iter(entities.values()), []))

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then stop the writer thread."""
        if self._thread is None:
            return
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            try:
                self._queue.put(_STOP, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join(max(0.0, deadline - time.monotonic()))
        self._thread = None

    # -- the writer thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=min(1.0, self._flush_seconds))
            except queue.Empty:
                item = None
            if item is _STOP:
                self._flush_all()
                return
            if item is not None:
                service, entities, request_data, response, requested_at = item
                target = self._services[service]
                target.pending.append((entities, request_data, response, requested_at))
                target.rows += len(next(iter(entities.values()), []))
                if target.rows >= self._flush_rows:
                    self._flush(target)
            if time.monotonic() - last_flush >= self._flush_seconds:
                self._flush_all()
                last_flush = time.monotonic()

    def _flush_all(self) -> None:
        for target in self._services.values():
            if target.pending:
                self._flush(target)

    def _flush(self, target: ServiceLog) -> None:
        pending, rows = target.pending, target.rows
        target.pending, target.rows = [], 0
        try:
            write_log_file(target, to_table(target, pending))
            self.written += rows
        except Exception:
            self.failed += rows
            log.exception("feature log: could not write %d rows of service %s", rows, target.service)


def to_table(target: ServiceLog, pending: list[Any]) -> pa.Table:
    """Queued responses -> one Arrow table in the service's log schema."""
    import pyarrow as pa

    from featurestore.dsl.dtypes import arrow_type

    columns: dict[str, list[Any]] = {k: [] for k in target.keys}
    columns[REQUEST_TS] = []
    for name in target.request_fields:
        columns[name] = []
    for full in target.dtypes:
        columns[full] = []
        columns[f"{full}__status"] = []
    for entities, request_data, response, requested_at in pending:
        values, statuses = response["values"], response["statuses"]
        n = len(next(iter(entities.values()), []))
        when = datetime.fromtimestamp(requested_at, UTC)
        columns[REQUEST_TS] += [when] * n
        for key in target.keys:
            columns[key] += values.get(key, entities.get(key, [None] * n))
        for name in target.request_fields:
            columns[name] += (request_data or {}).get(name, [None] * n)
        named = {target.short.get(name, name): name for name in response["features"]}
        for full in target.dtypes:
            served = named.get(full)
            columns[full] += values[served] if served is not None else [None] * n
            columns[f"{full}__status"] += statuses[served] if served is not None else [None] * n
    types = {k: pa.int64() if d == "int64" else pa.string() for k, d in target.keys.items()}
    types[REQUEST_TS] = pa.timestamp("us", tz="UTC")
    types.update({k: arrow_type(d) for k, d in target.request_fields.items()})
    for full, dtype in target.dtypes.items():
        types[full] = arrow_type(dtype)
        types[f"{full}__status"] = pa.string()
    metadata = {
        META_SERVICE: target.service.encode(),
        META_FEATURES: json.dumps(target.refs).encode(),
        META_KEYS: json.dumps(list(target.keys)).encode(),
        META_REQUEST: json.dumps(list(target.request_fields)).encode(),
    }
    schema = pa.schema([pa.field(name, types[name]) for name in columns], metadata=metadata)
    return pa.table({name: pa.array(values, types[name]) for name, values in columns.items()}, schema=schema)


def write_log_file(target: ServiceLog, table: pa.Table) -> str:
    """One Parquet file, written whole or not at all; its URI. Names are unique per process and flush."""
    now = datetime.now(UTC)
    key = f"{target.prefix}/{now:%Y-%m-%d}/{now:%H%M%S%f}-{os.getpid()}-{uuid.uuid4().hex[:12]}.parquet"
    target.storage.write_table(key, table)
    return target.storage.uri(key)
