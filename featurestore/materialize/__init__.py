"""The write path: values per entity -> the online store, streamed in Arrow batches.

For each view the engine computes what an online read must return as of ``end`` (the latest row per
entity, or every aggregate per entity); batches are written with newer-wins, so reruns and concurrent
jobs converge. A run writes the version of the applied definition (``versions.py``): a pending version
is promoted when its run has caught up with the active one. The version's watermark advances only after
its last batch is written, and a marker in the online store records the same, so a store that was
flushed, replaced or restored is noticed by the next incremental run (which then re-reads what the store
lacks). A run killed part-way leaves the old watermark, and running it again ends in the state of one
clean run.

Modules (each imports only those listed before it):

- ``summary.py``: ``ViewRun``, ``MaterializeSummary``: what a run did.
- ``time_bounds.py``: no end in the future, expired rows counted, times as plans take them.
- ``strategy.py``: the ``MaterializeStrategy`` protocol and what a strategy is given and returns.
- ``latest.py`` (plain views), ``aggregates.py`` (aggregation views): the strategies.
- ``run_log.py``: one log line per view and run.
- ``run.py``: the ``Materializer`` (the run loop, which knows no view kind) and ``strategy_for``.

May import everything below it (registry, plan, sql, engines, online, versions), never the facade.
"""

from __future__ import annotations

# The wall clock is read through this module so that tests can freeze it in one place
# (``tests/pit_repo.py::freeze_online_clock`` replaces ``featurestore.materialize.time``).
import time

from featurestore.materialize.aggregates import Aggregates
from featurestore.materialize.latest import LatestValues
from featurestore.materialize.run import Materializer, Progress, select_views, strategy_for
from featurestore.materialize.strategy import MaterializeStrategy, Reads, ReadStats, ViewJob, ViewRequest
from featurestore.materialize.summary import MaterializeSummary, ViewRun
from featurestore.materialize.time_bounds import Clock, check_not_future, drop_expired, to_naive_utc

__all__ = [
    "Aggregates",
    "Clock",
    "LatestValues",
    "MaterializeStrategy",
    "MaterializeSummary",
    "Materializer",
    "Progress",
    "ReadStats",
    "Reads",
    "ViewJob",
    "ViewRequest",
    "ViewRun",
    "check_not_future",
    "drop_expired",
    "select_views",
    "strategy_for",
    "to_naive_utc",
    "wall_clock_us",
]


def wall_clock_us() -> int:
    """Now, in microseconds since the Unix epoch: the clock the facade hands the run loop.

    >>> wall_clock_us() > 1_700_000_000_000_000
    True
    """
    return time.time_ns() // 1000
