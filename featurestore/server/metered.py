"""An online store that measures its reads: the server hands it to its ``FeatureStore``, so every read
(plain and on-demand feature lists alike, blocking or awaited) is timed and its statuses and value ages
are counted, at the one place all reads pass through. Everything else is passed through untouched."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from featurestore.errors import OnlineStoreError, OnlineStoreTimeoutError

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.online.base import (
        AsyncReads,
        OnlineStore,
        OnlineView,
        SinkSpec,
        StoreCapabilities,
        StoreDiagnostics,
        ViewResult,
    )
    from featurestore.online.readplan import ReadPlan
    from featurestore.server.metrics import Metrics


class MeteredStore:
    """``store``, with each :meth:`read` recorded in ``metrics`` (latency, errors, statuses, ages)."""

    def __init__(self, store: OnlineStore, metrics: Metrics) -> None:
        self.store = store
        self._metrics = metrics

    @property
    def capabilities(self) -> StoreCapabilities:
        return self.store.capabilities

    def read(
        self, plan: ReadPlan, entity_keys: Mapping[str, Sequence[Any]], *, now: datetime | None = None
    ) -> tuple[ViewResult, ...]:
        started = time.perf_counter()
        try:
            results = self.store.read(plan, entity_keys, now=now)
        except OnlineStoreError as exc:
            self._metrics.store_error(time.perf_counter() - started, type(exc).__name__)
            raise
        self._record(time.perf_counter() - started, results, now)
        return results

    async def read_async(
        self, plan: ReadPlan, entity_keys: Mapping[str, Sequence[Any]], *, now: datetime | None = None
    ) -> tuple[ViewResult, ...]:
        """For a store with ``capabilities.async_reads`` only."""
        store: AsyncReads = self.store  # type: ignore[assignment]  # the capability says it is one
        started = time.perf_counter()
        try:
            results = await store.read_async(plan, entity_keys, now=now)
        except OnlineStoreError as exc:
            self._metrics.store_error(time.perf_counter() - started, type(exc).__name__)
            raise
        except asyncio.CancelledError:  # given up at the request's deadline: the store was too slow
            self._metrics.store_error(time.perf_counter() - started, OnlineStoreTimeoutError.__name__)
            raise
        self._record(time.perf_counter() - started, results, now)
        return results

    def _record(self, elapsed: float, results: tuple[ViewResult, ...], now: datetime | None) -> None:
        now_us = time.time_ns() // 1000 if now is None else int(now.timestamp() * 1_000_000)
        self._metrics.store_read(elapsed, results, now_us)

    async def aclose(self) -> None:
        if self.store.capabilities.async_reads:
            store: AsyncReads = self.store  # type: ignore[assignment]
            await store.aclose()

    def write(self, view: OnlineView, batch: pa.RecordBatch | pa.Table) -> int:
        return self.store.write(view, batch)

    def write_batches(self, view: OnlineView, batches: Iterable[pa.RecordBatch | pa.Table]) -> Iterator[int]:
        return self.store.write_batches(view, batches)

    def delete_namespace(self, namespace: str) -> int:
        return self.store.delete_namespace(namespace)

    def count_keys(self, namespace: str) -> int:
        return self.store.count_keys(namespace)

    def write_marker(self, namespace: str, marker: str) -> None:
        self.store.write_marker(namespace, marker)

    def read_marker(self, namespace: str) -> str | None:
        return self.store.read_marker(namespace)

    def diagnostics(self) -> StoreDiagnostics:
        return self.store.diagnostics()

    def sink_spec(self) -> SinkSpec | None:
        return self.store.sink_spec()

    def close(self) -> None:
        self.store.close()
