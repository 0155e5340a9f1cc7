"""What a materialization strategy is: how one kind of view becomes batches of values to write online.

The run loop (``run.py``) knows no view kind. For each view it asks ``run.py::strategy_for`` for the
strategy of the view's kind, hands it a :class:`ViewRequest`, and gets back a :class:`ViewJob`: the
queries of that one run, already planned. The loop then runs them in this order::

    job = strategy.plan(request)     # may run small queries (the aggregates' created mark)
    stats = job.prepare()            # counts; what the run keeps beside the online values is written
    write(job.batches(batch_size))   # newer-wins, expired rows dropped and counted; or, from the
                                     # engine's workers, job.rows_query() (executors.py)
    # on any failure so far: job.discard(), the watermark stays where it was
    finish the run                   # watermark, marker, promotion
    job.commit()                     # what the run kept beside the online values becomes current

Strategies: ``latest.py::LatestValues`` (plain views) and ``aggregates.py::Aggregates`` (aggregation
views). To add a kind: a module beside them with a class that has ``kind`` and ``plan``, its job class,
and one case in ``run.py::strategy_for``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.engines.base import Engine
    from featurestore.registry.model import RegisteredView
    from featurestore.registry.state import Watermark


@dataclass(frozen=True)
class Reads:
    """What a strategy reads with: the engine, the repo root (sources, partial states) and the look-back
    window re-read by incremental runs of sources without a created time."""

    engine: Engine
    root: Path
    lookback: timedelta


@dataclass(frozen=True)
class ViewRequest:
    """One view's run: the rows from ``start`` (None: all) as of ``end``, full or incremental.

    ``mark``: where an incremental run starts (the version's watermark, or less when the online store
    holds less); None for a full run or a version never materialized.
    """

    rv: RegisteredView
    start: datetime | None
    end: datetime
    incremental: bool
    mark: Watermark | None


@dataclass(frozen=True)
class ReadStats:
    """What a run read: rows considered, rows skipped (a null key or event time), the greatest created time.

    >>> ReadStats.from_row({"rows_read": 4, "rows_skipped": None, "max_created": None})
    ReadStats(rows_read=4, rows_skipped=0, max_created=None)
    """

    rows_read: int
    rows_skipped: int
    max_created: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ReadStats:
        """The stats from the one row of a stats query (counts are null when it read nothing)."""
        return cls(int(row["rows_read"] or 0), int(row["rows_skipped"] or 0), row["max_created"])


class ViewJob(Protocol):
    """One planned run of one view (see the module docstring for the order the loop calls these in)."""

    def prepare(self) -> ReadStats:
        """Run what comes before the writes; return what the run reads."""
        ...

    def batches(self, batch_size: int) -> Iterable[pa.RecordBatch]:
        """The values to write: join keys, ``__event_ts``, features."""
        ...

    def rows_query(self) -> str:
        """The query whose result :meth:`batches` streams: what an engine that writes from its workers
        runs instead (``executors.py``)."""
        ...

    def commit(self) -> None:
        """The run's watermark advanced: make what it kept beside the online values current."""
        ...

    def discard(self) -> None:
        """The run failed before its watermark advanced: remove what it kept."""
        ...


class MaterializeStrategy(Protocol):
    """How one kind of view is materialized."""

    @property
    def kind(self) -> str:
        """The kind's name, as logs and tests see it: ``latest`` or ``aggregates``."""
        ...

    def plan(self, request: ViewRequest) -> ViewJob:
        """The job of one run of ``request.rv``."""
        ...
