"""Metrics read on each scrape rather than counted per request: view freshness from the state, each
feature's null share and drift in its view's newest materialization run, registry reloads and
rejections, feature-log rows, and connections closed by the timeouts of ``guard.py``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from featurestore.server.metrics import Labels, Metrics

if TYPE_CHECKING:
    from featurestore.feature_logging import FeatureLogger
    from featurestore.store import FeatureStore


def register_collectors(
    metrics: Metrics,
    store: FeatureStore,
    logger: FeatureLogger | None,
    reloads: Callable[[], int],
    rejected: Callable[[], int] = lambda: 0,
) -> None:
    """Register the scrape-time families of one server process with ``metrics``."""

    def freshness() -> list[tuple[Labels, float]]:
        now = datetime.now(UTC).replace(tzinfo=None)  # the state's times are naive UTC
        marks = store.state.watermarks()
        return [
            ({"view": view}, round((now - mark.event_time).total_seconds(), 3))
            for view, mark in sorted(marks.items())
        ]

    metrics.collect(
        "featurestore_view_freshness_seconds",
        "gauge",
        "Seconds since the watermark of each view's active version (how stale its online values may be).",
        freshness,
    )
    metrics.collect(
        "featurestore_registry_reloads_total",
        "counter",
        "Times the registry file changed and was read again.",
        lambda: [({}, reloads())],
    )
    metrics.collect(
        "featurestore_registry_rejected_total",
        "counter",
        "Times a new registry was not served because an on-demand function could not be resolved.",
        lambda: [({}, rejected())],
    )
    metrics.collect(
        "featurestore_http_connections_timed_out_total",
        "counter",
        "Connections closed for an idle client, or a request head or body that did not arrive in time.",
        _timed_out_connections,
    )
    quality = RunQuality(store)
    metrics.collect(
        "featurestore_feature_drift",
        "gauge",
        "Drift of each feature's newest materialization run from the run before it (PSI, KS for numbers; "
        "JS, L-inf for strings and booleans; nulls: change of the null fraction).",
        quality.drift,
    )
    metrics.collect(
        "featurestore_feature_drift_exceeded",
        "gauge",
        "1 when a drift metric of the feature's newest run is over its threshold, else 0.",
        quality.exceeded,
    )
    metrics.collect(
        "featurestore_feature_null_fraction",
        "gauge",
        "Share of nulls among the values the feature's newest materialization run wrote.",
        quality.nulls,
    )
    if logger is None:
        return
    rows: list[tuple[str, Callable[[], int], str]] = [
        ("written", lambda: logger.written, "Feature-log rows written to Parquet."),
        ("dropped", lambda: logger.dropped_rows, "Feature-log rows dropped: the writer's queue was full."),
        ("failed", lambda: logger.failed, "Feature-log rows lost to write errors (see the server log)."),
    ]
    for name, read, text in rows:
        metrics.collect(f"featurestore_feature_log_rows_{name}_total", "counter", text, _one(read))


class RunQuality:
    """The statistics and drift of each served view's newest run, read from the state store once per
    state change (not per scrape)."""

    def __init__(self, store: FeatureStore) -> None:
        self.store = store
        self._stamp: object = object()
        self._samples: dict[str, list[tuple[Labels, float]]] = {}

    def _read(self) -> dict[str, list[tuple[Labels, float]]]:
        stamp = self.store.state.stamp()
        if stamp == self._stamp:
            return self._samples
        samples: dict[str, list[tuple[Labels, float]]] = {"drift": [], "exceeded": [], "nulls": []}
        for view in sorted(self.store.state.watermarks()):
            found = self.store.state.run_profiles(view)
            if found is None:
                continue
            document = found[1]
            for name, feature in sorted(document.get("features", {}).items()):
                count = feature.get("count") or 0
                share = feature.get("nulls", 0) / count if count else 0.0
                samples["nulls"].append(({"view": view, "feature": name}, round(share, 6)))
            drift = (document.get("drift") or {}).get("features", {})
            for name, entry in sorted(drift.items()):
                labels = {"view": view, "feature": name}
                samples["exceeded"].append((labels, 1.0 if entry.get("exceeded") else 0.0))
                for metric, value in sorted(entry.get("metrics", {}).items()):
                    if value is not None:
                        samples["drift"].append(({**labels, "metric": metric}, value))
        self._stamp, self._samples = stamp, samples
        return samples

    def drift(self) -> list[tuple[Labels, float]]:
        return self._read()["drift"]

    def exceeded(self) -> list[tuple[Labels, float]]:
        return self._read()["exceeded"]

    def nulls(self) -> list[tuple[Labels, float]]:
        return self._read()["nulls"]


def _one(read: Callable[[], int]) -> Callable[[], list[tuple[Labels, float]]]:
    return lambda: [({}, read())]


def _timed_out_connections() -> list[tuple[Labels, float]]:
    guard = sys.modules.get("featurestore.server.guard")  # absent when uvicorn runs without httptools
    if guard is None:
        return []
    return [({"phase": phase}, n) for phase, n in guard.TIMED_OUT.items()]
