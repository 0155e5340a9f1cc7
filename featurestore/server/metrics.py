"""Prometheus metrics of one server process, rendered as the text exposition format.

No client library: a few counters and one latency histogram per route, updated from the event loop (and
the push thread pool, hence the lock). With ``--workers N`` every worker process keeps its own figures and
a scrape reaches one of them; each sample carries a ``worker`` label (the process id) so series from
different workers never merge by accident.

    >>> m = Metrics()
    >>> m.observe("/online-features", 200, 0.0004)
    >>> "featurestore_http_requests_total" in m.render()
    True
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Callable

BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Latency histogram bounds in seconds: sub-millisecond resolution where the online path lives."""


class Metrics:
    """Request counts by (route, status), a latency histogram per route, errors by type, gauges."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, int], int] = {}
        self._errors: dict[tuple[str, str], int] = {}
        self._hist: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}
        self._counters: dict[str, tuple[str, int]] = {}
        self._gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        self._worker = str(os.getpid())

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        with self._lock:
            key = (route, status)
            self._requests[key] = self._requests.get(key, 0) + 1
            counts = self._hist.get(route)
            if counts is None:
                counts = self._hist[route] = [0] * (len(BUCKETS) + 1)
                self._sums[route] = 0.0
            counts[bisect.bisect_left(BUCKETS, seconds)] += 1
            self._sums[route] += seconds

    def error(self, route: str, kind: str) -> None:
        """Count one error answer by its type (``UnknownFeatureError``, ``malformed_json``, ...)."""
        with self._lock:
            key = (route, kind)
            self._errors[key] = self._errors.get(key, 0) + 1

    def count(self, name: str, amount: int = 1, help_text: str = "") -> None:
        """Add to a plain counter (created on first use)."""
        with self._lock:
            old = self._counters.get(name, (help_text, 0))
            self._counters[name] = (old[0] or help_text, old[1] + amount)

    def gauge(self, name: str, read: Callable[[], float], help_text: str) -> None:
        """Register a gauge read at scrape time."""
        self._gauges[name] = (help_text, read)

    def render(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        w = f'worker="{self._worker}"'
        lines = [
            "# HELP featurestore_http_requests_total HTTP requests answered, by route and status code.",
            "# TYPE featurestore_http_requests_total counter",
        ]
        with self._lock:
            for (route, status), n in sorted(self._requests.items()):
                lines.append(f'featurestore_http_requests_total{{{w},route="{route}",code="{status}"}} {n}')
            lines += [
                "# HELP featurestore_http_errors_total Error answers, by route and error type.",
                "# TYPE featurestore_http_errors_total counter",
            ]
            for (route, kind), n in sorted(self._errors.items()):
                lines.append(f'featurestore_http_errors_total{{{w},route="{route}",error="{kind}"}} {n}')
            lines += [
                "# HELP featurestore_http_request_duration_seconds Time from request start to response end.",
                "# TYPE featurestore_http_request_duration_seconds histogram",
            ]
            for route, counts in sorted(self._hist.items()):
                total = 0
                labels = f'{w},route="{route}"'
                for bound, n in zip(BUCKETS, counts, strict=False):
                    total += n
                    lines.append(
                        f'featurestore_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {total}'
                    )
                total += counts[-1]
                lines.append(
                    f'featurestore_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}'
                )
                lines.append(
                    f"featurestore_http_request_duration_seconds_sum{{{labels}}} {self._sums[route]}"
                )
                lines.append(f"featurestore_http_request_duration_seconds_count{{{labels}}} {total}")
            for name, (help_text, n) in sorted(self._counters.items()):
                lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter", f"{name}{{{w}}} {n}"]
        for name, (help_text, read) in sorted(self._gauges.items()):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name}{{{w}}} {read()}"]
        return "\n".join(lines) + "\n"
