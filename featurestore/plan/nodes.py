"""Plan nodes: plain frozen data that every renderer reads.

Timestamps in plans are naive UTC ``datetime`` values with microsecond precision. Source column
types (``SourceScan.timestamp_type``, ``created_type``, ``FeatureColumn.source_type``,
``WindowedValue.column_type``) are Arrow type names (``dsl/dtypes.py``: ``"timestamp[ns]"``,
``"timestamp[us, tz=UTC]"``, ``"date32[day]"``); each renderer maps them to its engine's types
(DuckDB: ``sql/duckdb_types.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from featurestore.plan.window import WindowAggregate


@dataclass(frozen=True)
class SourceScan:
    """Read one source: only ``columns`` (None = all), rows with non-null keys and event time,
    event time inside ``[lower, upper]`` when set.

    ``exclude_current_time`` (the view's flag): a row stamped exactly at a request's time belongs after
    it. Every renderer then compares event times with the plan's times (an entity row's ``t``, a run's
    end and marks, ``upper``) half-open: ``ts < m`` for ``ts <= m`` and ``ts >= m`` for ``ts > m``; a
    window's lower edge ``ts > t - w`` is unchanged, so a window is ``(t - w, t)``.
    """

    view: str
    kind: Literal["file", "sql"]
    location: str  # absolute path / glob for files, the query text for SQL sources
    file_format: Literal["parquet", "csv"]
    hive_partitioning: bool
    timestamp_field: str
    timestamp_type: str  # the source column's Arrow type name, so bounds compare without casts
    created_field: str | None
    key_columns: tuple[str, ...]
    created_type: str = "timestamp[us]"
    columns: tuple[str, ...] | None = None
    pushed: str | None = None  # a glob of pushed rows (the push log), read together with the source
    lower: datetime | None = None
    upper: datetime | None = None
    query_dialect: str = "duckdb"  # the dialect a SQL source's query is written in (renderers read it)
    exclude_current_time: bool = False  # events at a request's time t are not before it (see above)


@dataclass(frozen=True)
class FeatureColumn:
    """A feature read from a source column and written to an output column of a given type."""

    name: str
    dtype: str
    output: str
    source_type: str = ""  # the source column's Arrow type name, when known (nanosecond times truncate)


@dataclass(frozen=True)
class PointInTimeJoin:
    """For each entity row, the latest row of one view with matching keys and ``ts <= t``.

    Ties on ``ts`` go to the greatest created time, then to the greatest feature values
    (compared in declared order, nulls lowest). A ``ttl`` nulls values with ``ts < t - ttl``.
    ``as_known_at`` additionally requires ``created <= t``: a row whose created time is null is
    no candidate then (a source without a created column knows rows from their event time).
    """

    view: str
    scan: SourceScan
    keys: tuple[str, ...]
    features: tuple[FeatureColumn, ...]
    tie_break: tuple[str, ...]  # every declared feature of the view, in order
    ttl: timedelta | None
    as_known_at: bool = False


@dataclass(frozen=True)
class EntityRows:
    """The registered entity rows: a table with ``__row_id`` (input order) beside the user's columns."""

    table: str
    columns: tuple[str, ...]
    timestamp_column: str
    row_count: int
    min_ts: datetime | None
    max_ts: datetime | None


@dataclass(frozen=True)
class TrainingSetPlan:
    """One output row per entity row, in input order: the input columns, then the features."""

    entity: EntityRows
    joins: tuple[PointInTimeJoin | WindowAggregate, ...]  # WindowAggregate: see plan/window.py
    column_order: tuple[str, ...] = ()  # output feature columns in the requested order


@dataclass(frozen=True)
class LatestPerKey:
    """The latest row per entity among rows with ``start <= ts <= end`` (for materialization).

    ``end`` is inclusive (a value stamped exactly at ``end`` is the value at ``end``), matching
    rule 1 of the point-in-time semantics; ties as in ``PointInTimeJoin``.
    """

    view: str
    scan: SourceScan
    keys: tuple[str, ...]
    features: tuple[FeatureColumn, ...]
    tie_break: tuple[str, ...]
    start: datetime | None
    end: datetime
    ttl: timedelta | None
    # Incremental runs: only rows with event time after the first value, or created after the
    # second (late arrivals), are reconsidered; the online store's newer-wins keeps the rest.
    changed_since: tuple[datetime, datetime | None] | None = None
