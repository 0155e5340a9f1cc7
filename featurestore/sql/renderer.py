"""The renderer seam: one object per SQL dialect turns every statement the project runs into text.

Callers never build SQL: they ask ``renderer_for(engine.capabilities)`` (``featurestore/sql/__init__.py``)
and call one ``render_*`` method per statement. A dialect implements every method; what it cannot
express natively it lowers inside its own methods (Spark has no ASOF join), never in the planner.

The column names below are the contract between callers that register Arrow tables and the SQL that
reads them: every dialect uses the same ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sqlglot.dialects.dialect import Dialect

    from featurestore.plan.nodes import LatestPerKey, SourceScan, TrainingSetPlan
    from featurestore.plan.window import AggregatesAt
    from featurestore.sql.measures import Measure

ROW_ID = "__row_id"
"""Entity rows' input order (int64), in every registered entity table."""
ENTITY_TS = "__t"
"""Entity rows' time (naive UTC microseconds), in every registered entity table."""
TS = "__ts"
"""Event time (naive UTC microseconds) in results: the offline event time of verify's entities."""


class Renderer(Protocol):
    """Plans and checks -> SQL text in one dialect. Methods are pure: no connection, no I/O.

    To add a dialect: a class with these methods (a module of its own under ``featurestore/sql/``),
    one line in ``RENDERERS`` (``featurestore/sql/__init__.py``), and its golden files under
    ``tests/golden/<dialect>/``.
    """

    @property
    def dialect(self) -> str:
        """The sqlglot dialect of the text this renderer produces (``engine.capabilities.dialect``)."""
        ...

    @property
    def source_dialect(self) -> str | type[Dialect]:
        """The sqlglot dialect (a name or a class) that parses a SQL source written in ``dialect``."""
        ...

    def render_training_set(self, plan: TrainingSetPlan) -> str:
        """The feature columns of a training set, one row per entity row, ordered by ``ROW_ID``."""
        ...

    def render_preview(self, query: str, rows: int) -> str:
        """The first ``rows`` rows of ``query`` (a statement this renderer produced)."""
        ...

    def render_latest(self, plan: LatestPerKey) -> str:
        """The latest row per entity key as of ``plan.end``: keys, ``__event_ts``, features."""
        ...

    def render_latest_stats(self, plan: LatestPerKey) -> str:
        """One row: ``rows_read``, ``rows_skipped`` (null key or time), ``max_created``."""
        ...

    def render_source_probe(self, scan: SourceScan) -> str:
        """Every column of the scan's source (and push log), for reading its schema without running it."""
        ...

    def render_key_sample(self, scan: SourceScan, sample: int | None) -> str:
        """Distinct non-null ``scan.key_columns`` of the source, in a stable order (a hash of the keys),
        at most ``sample`` of them."""
        ...

    def render_offline_event_times(self, scan: SourceScan, entity_table: str, ttl: timedelta | None) -> str:
        """Per row of ``entity_table`` (keys, ``ROW_ID``, ``ENTITY_TS``), in ``ROW_ID`` order: ``ROW_ID``
        and ``TS``, the greatest event time of the scan's rows with those keys, ``ts <= t`` and, with a
        ``ttl``, ``ts >= t - ttl`` (null: none)."""
        ...

    def render_time_fix(
        self, column: str, actual: str, path: str | None, file_format: str
    ) -> tuple[str, str]:
        """A hint, not a statement it runs: a query that reads the file ``path`` (a ``file_format``
        file; ``None``: the source's own query) with ``column`` (Arrow type ``actual``) converted to a
        timestamp, and a note on other encodings of such a column (may be empty)."""
        ...

    def render_partials(self, plan: AggregatesAt) -> str:
        """The lifetime aggregates' partial states per entity at ``plan.frozen.as_of``."""
        ...

    def render_aggregates_at(self, plan: AggregatesAt) -> str:
        """Every aggregate per entity as of ``plan.end``: keys, ``__event_ts``, features."""
        ...

    def render_created_mark(self, scan: SourceScan, upper: datetime, after: datetime | None) -> str:
        """The greatest created time of events up to ``upper``, created after ``after``."""
        ...

    def render_aggregate_stats(self, plan: AggregatesAt) -> str:
        """One row of counts about an aggregation run (rows read, rows skipped, greatest created)."""
        ...

    def render_check_counts(self, rows_query: str, measures: tuple[Measure, ...]) -> str:
        """One row: each of validation's ``measures`` over the rows of ``rows_query`` (a statement this
        renderer produced: keys, ``__event_ts``, features), named by its name."""
        ...

    def render_check_offenders(
        self, rows_query: str, measure: Measure, keys: tuple[str, ...], limit: int
    ) -> str:
        """The ``keys`` and checked column of the first ``limit`` rows of ``rows_query`` that ``measure``
        counts, in key order (nulls last)."""
        ...

    def render_source_rows(self, scan: SourceScan, features: tuple[str, ...]) -> str:
        """Every row of the scan within its bounds (keys and time not null): keys, ``__event_ts``,
        ``features``; what ``validate --all-rows`` checks."""
        ...
