"""The strategy of plain views: the latest row per entity as of ``end`` (the training sets' tie rule).

A full run reads every row up to ``end`` (from ``start`` on, when given). An incremental run reads only
the entities with a row that changed since the watermark ``M``: stamped after ``M``, or a late row (stamped
at the latest ``M``, landed after the last run). With a created time, a late row is one created after the
greatest created time the last run saw, or after ``M`` if that is earlier (a run that saw no created
time still finds them); without one, the look-back window before ``M`` is re-read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from featurestore.materialize.strategy import Reads, ReadStats, ViewRequest
from featurestore.plan import LatestPerKey, plan_latest
from featurestore.sql import renderer_for

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.engines.base import Engine
    from featurestore.registry.state import Watermark


def changed_since(
    mark: Watermark | None, has_created: bool, lookback: timedelta
) -> tuple[datetime, datetime | None] | None:
    """What an incremental run reads beside the rows stamped after the watermark: ``(mark's event time,
    created after)`` with a created time, ``(mark - lookback, None)`` without; None for a full run.

    >>> from featurestore.registry.state import Watermark
    >>> M = datetime(2024, 1, 2)
    >>> mark = Watermark("v", M, created_time=datetime(2024, 1, 1, 23), updated_at=M, entities_written=1)
    >>> changed_since(mark, True, timedelta(hours=1))
    (datetime.datetime(2024, 1, 2, 0, 0), datetime.datetime(2024, 1, 1, 23, 0))
    >>> changed_since(mark, False, timedelta(hours=1))
    (datetime.datetime(2024, 1, 1, 23, 0), None)
    """
    if mark is None:
        return None
    if not has_created:
        return (mark.event_time - lookback, None)
    late = mark.event_time if mark.created_time is None else min(mark.created_time, mark.event_time)
    return (mark.event_time, late)


class LatestValues:
    """Plain views: one ``LatestPerKey`` plan per run."""

    kind = "latest"

    def __init__(self, reads: Reads) -> None:
        self.reads = reads

    def plan(self, request: ViewRequest) -> LatestJob:
        rv = request.rv
        since = changed_since(
            request.mark if request.incremental else None,
            bool(rv.view.source.created_timestamp_field),
            self.reads.lookback,
        )
        plan = plan_latest(rv, self.reads.root, start=request.start, end=request.end, changed_since=since)
        return LatestJob(self.reads.engine, plan)


@dataclass
class LatestJob:
    """One run of a plain view: a stats query, then the latest rows streamed in batches."""

    engine: Engine
    plan: LatestPerKey

    def __post_init__(self) -> None:
        # The one place this strategy renders SQL.
        sql = renderer_for(self.engine.capabilities)
        self._stats_sql = sql.render_latest_stats(self.plan)
        self._rows_sql = sql.render_latest(self.plan)

    def prepare(self) -> ReadStats:
        return ReadStats.from_row(self.engine.to_arrow(self._stats_sql).to_pylist()[0])

    def batches(self, batch_size: int) -> Iterable[pa.RecordBatch]:
        return self.engine.batches(self._rows_sql, batch_size)

    def rows_query(self) -> str:
        return self._rows_sql

    def commit(self) -> None:
        """Nothing is kept beside the online values."""

    def discard(self) -> None:
        """Nothing is kept beside the online values."""
