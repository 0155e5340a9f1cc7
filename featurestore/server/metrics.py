"""Prometheus metrics of one server process, rendered as the text exposition format.

No client library: plain ints and lists updated on the request path, turned into text only on a scrape.
With ``--workers N`` every worker process keeps its own figures and a scrape reaches one of them; each
sample carries a ``worker`` label (the process id) so series from different workers never merge by
accident. Updates come from the event loop and from the read threads, hence one lock (uncontended: ~0.1 us).

What is measured (names follow Prometheus conventions: counters end in ``_total``, units in the name):

* HTTP: requests by route and status, a latency histogram per route, error answers by type;
* online-store reads (:meth:`Metrics.store_read`): a latency histogram, errors by type, values read by
  view and status (``PRESENT`` / ``NOT_FOUND`` / ``EXPIRED``), and the age of the ``PRESENT`` values
  (now - their event time) per view;
* anything registered with :meth:`Metrics.collect`, read on each scrape (view freshness, registry reloads,
  feature-log rows, timed-out connections).

    >>> m = Metrics()
    >>> m.observe("/online-features", 200, 0.0004)
    >>> "featurestore_http_requests_total" in m.render()
    True
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from featurestore.online.base import ViewResult

BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Latency histogram bounds in seconds: sub-millisecond resolution where the online path lives."""
AGE_BUCKETS = (1, 10, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400,
               30 * 86400)  # fmt: skip
"""Served-value age bounds in seconds: from pushed (seconds old) to daily batches (days old)."""
_AGE_BOUNDS_US = tuple(b * 1_000_000 for b in AGE_BUCKETS)
_STATUSES = ("PRESENT", "NOT_FOUND", "EXPIRED")  # the order of online.base.Status codes

Labels = dict[str, str]
Collector = Callable[[], Iterable[tuple[Labels, float]]]


class Histogram:
    """Counts per bucket (the last one is +Inf) and the sum of the observations."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def lines(self, name: str, labels: str) -> list[str]:
        out = []
        cumulative = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            cumulative += n
            out.append(f'{name}_bucket{{{labels},le="{float(bound)}"}} {cumulative}')
        cumulative += self.counts[-1]
        out.append(f'{name}_bucket{{{labels},le="+Inf"}} {cumulative}')
        out.append(f"{name}_sum{{{labels}}} {self.total}")
        out.append(f"{name}_count{{{labels}}} {cumulative}")
        return out


def age_counts(stamps_us: Sequence[int], now_us: int) -> list[int]:
    """How many of the event times ``stamps_us`` fall in each :data:`AGE_BUCKETS` bucket at ``now_us``
    (the last count: older than every bound), by sorting once instead of a search per value.

    >>> hour = 3600 * 1_000_000
    >>> counts = age_counts([0, hour, 2 * hour], now_us=2 * hour)
    >>> counts[0], counts[AGE_BUCKETS.index(3600)], counts[AGE_BUCKETS.index(3 * 3600)], sum(counts)
    (1, 1, 1, 3)
    """
    n = len(stamps_us)
    if n <= 8:  # a few values (the common request): one search each is cheaper than sorting
        counts = [0] * (len(_AGE_BOUNDS_US) + 1)
        for stamp in stamps_us:
            counts[bisect.bisect_left(_AGE_BOUNDS_US, now_us - stamp)] += 1
        return counts
    stamps = sorted(stamps_us)
    counts = []
    below = 0  # values with an age <= the previous bound
    for bound in _AGE_BOUNDS_US:
        within = n - bisect.bisect_left(stamps, now_us - bound)
        counts.append(within - below)
        below = within
    counts.append(n - below)
    return counts


class Metrics:
    """See the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, int], int] = {}
        self._errors: dict[tuple[str, str], int] = {}
        self._latency: dict[str, Histogram] = {}
        self._counters: dict[str, tuple[str, int]] = {}
        self._reads = Histogram(BUCKETS)
        self._read_errors: dict[str, int] = {}
        self._values: dict[tuple[str, int], int] = {}
        self._ages: dict[str, Histogram] = {}
        self._collectors: list[tuple[str, str, str, Collector]] = []
        self._worker = str(os.getpid())

    # -- the request path ------------------------------------------------------------------------------

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency."""
        with self._lock:
            key = (route, status)
            self._requests[key] = self._requests.get(key, 0) + 1
            histogram = self._latency.get(route)
            if histogram is None:
                histogram = self._latency[route] = Histogram(BUCKETS)
            histogram.observe(seconds)

    def error(self, route: str, kind: str) -> None:
        """Count one error answer by its type (``UnknownFeatureError``, ``malformed_json``, ...)."""
        with self._lock:
            key = (route, kind)
            self._errors[key] = self._errors.get(key, 0) + 1

    def count(self, name: str, amount: int = 1, help_text: str = "") -> None:
        """Add to a plain counter (created on first use; ``name`` ends in ``_total``)."""
        with self._lock:
            old = self._counters.get(name, (help_text, 0))
            self._counters[name] = (old[0] or help_text, old[1] + amount)

    def store_read(self, seconds: float, results: Sequence[ViewResult], now_us: int) -> None:
        """One online-store read: its latency, values by view and status, ages of the PRESENT values."""
        per_view = []
        for result in results:  # outside the lock: the only part that grows with the entities
            codes = result.status_codes
            present = codes.count(0)
            missing = codes.count(1)
            ages = None
            age_sum = 0.0
            if present:
                # A PRESENT value always has an event time: no None among these.
                stamps = cast("Sequence[int]", result.event_micros)
                if present != len(codes):
                    stamps = [t for t, c in zip(stamps, codes, strict=True) if c == 0]
                ages = age_counts(stamps, now_us)
                age_sum = (present * now_us - sum(stamps)) / 1e6
            expired = len(codes) - present - missing
            per_view.append((result.view.name, present, missing, expired, ages, age_sum))
        with self._lock:
            self._reads.observe(seconds)
            values = self._values
            for view, present, missing, expired, ages, age_sum in per_view:
                for code, n in ((0, present), (1, missing), (2, expired)):
                    if n:
                        values[(view, code)] = values.get((view, code), 0) + n
                if ages is not None:
                    histogram = self._ages.get(view)
                    if histogram is None:
                        histogram = self._ages[view] = Histogram(AGE_BUCKETS)
                    for i, n in enumerate(ages):
                        histogram.counts[i] += n
                    histogram.total += age_sum

    def store_error(self, seconds: float, kind: str) -> None:
        """One failed online-store read, by error type (``OnlineStoreTimeoutError``, ...)."""
        with self._lock:
            self._reads.observe(seconds)
            self._read_errors[kind] = self._read_errors.get(kind, 0) + 1

    # -- read on each scrape -----------------------------------------------------------------------------

    def collect(self, name: str, kind: str, help_text: str, read: Collector) -> None:
        """Register a metric family (``kind``: ``counter`` or ``gauge``) whose samples ``read`` returns
        as ``(labels, value)`` pairs on each scrape."""
        self._collectors.append((name, kind, help_text, read))

    def render(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        w = f'worker="{self._worker}"'
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.extend((f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"))

        with self._lock:
            family(
                "featurestore_http_requests_total", "counter", "HTTP requests answered, by route and status."
            )
            for (route, status), n in sorted(self._requests.items()):
                lines.append(f'featurestore_http_requests_total{{{w},route="{route}",code="{status}"}} {n}')
            family("featurestore_http_errors_total", "counter", "Error answers, by route and error type.")
            for (route, kind), n in sorted(self._errors.items()):
                lines.append(f'featurestore_http_errors_total{{{w},route="{route}",error="{kind}"}} {n}')
            name = "featurestore_http_request_duration_seconds"
            family(name, "histogram", "Time from request start to response end.")
            for route, histogram in sorted(self._latency.items()):
                lines += histogram.lines(name, f'{w},route="{route}"')
            name = "featurestore_online_store_read_duration_seconds"
            family(name, "histogram", "Online-store reads (one per request), failed ones included.")
            lines += self._reads.lines(name, w)
            family(
                "featurestore_online_store_errors_total",
                "counter",
                "Failed online-store reads, by error type.",
            )
            for kind, n in sorted(self._read_errors.items()):
                lines.append(f'featurestore_online_store_errors_total{{{w},error="{kind}"}} {n}')
            family(
                "featurestore_online_values_total",
                "counter",
                "Values read from the online store (one per entity and view), by view and status.",
            )
            for (view, code), n in sorted(self._values.items()):
                lines.append(
                    f'featurestore_online_values_total{{{w},view="{view}",status="{_STATUSES[code]}"}} {n}'
                )
            name = "featurestore_served_value_age_seconds"
            family(name, "histogram", "Age of the PRESENT values served (now - their event time), by view.")
            for view, histogram in sorted(self._ages.items()):
                lines += histogram.lines(name, f'{w},view="{view}"')
            for name, (help_text, n) in sorted(self._counters.items()):
                family(name, "counter", help_text)
                lines.append(f"{name}{{{w}}} {n}")
        for name, kind, help_text, read in self._collectors:
            family(name, kind, help_text)
            for labels, number in read():
                extra = "".join(f',{k}="{v}"' for k, v in labels.items())
                lines.append(f"{name}{{{w}{extra}}} {number}")
        return "\n".join(lines) + "\n"
