"""The Spark renderer: ``SparkRenderer`` assembles the statements of ``spark.py`` (Spark SQL).

>>> from featurestore.engines.base import Capabilities
>>> from featurestore.sql import renderer_for
>>> renderer_for(Capabilities(dialect="spark", asof_join=False, streams_parquet=True)).dialect
'spark'
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sqlglot import exp

from featurestore.dsl.dtypes import is_integer
from featurestore.plan.nodes import LatestPerKey, SourceScan, TrainingSetPlan
from featurestore.plan.window import AggregatesAt
from featurestore.sql import check_queries, spark, spark_window, spark_window_latest, verify_queries
from featurestore.sql.measures import Measure
from featurestore.sql.spark import SparkDialect, col, ntz, scan_select, source_table


def _not_null(*columns: exp.Expr) -> list[exp.Expr]:
    return [exp.Not(this=exp.Is(this=c, expression=exp.null())) for c in columns]


def render_latest_stats(plan: LatestPerKey) -> str:
    """Rows the run considers, rows skipped for a null key or event time, and the greatest created
    time (naive UTC), as ``duckdb.render_latest_stats``."""
    scan = plan.scan
    ts = col(scan.timestamp_field)
    nulls = exp.or_(*[exp.Is(this=c, expression=exp.null()) for c in [*[col(k) for k in plan.keys], ts]])
    in_range: list[exp.Expr] = []
    if scan.lower is not None:
        in_range.append(spark.bound(scan, exp.GTE, scan.lower))
    if scan.upper is not None:
        in_range.append(spark.bound(scan, spark.before_end(scan), scan.upper))
    if plan.changed_since is not None:
        in_range.append(spark.changed_since(plan))
    where = exp.or_(exp.Is(this=ts.copy(), expression=exp.null()), exp.and_(*in_range)) if in_range else None
    created: exp.Expr = ntz(col(scan.created_field)) if scan.created_field else exp.null()
    columns = list(dict.fromkeys([*plan.keys, scan.timestamp_field, *filter(None, [scan.created_field])]))
    query = exp.select(
        exp.alias_(exp.Count(this=exp.Star()), "rows_read", quoted=True),
        exp.alias_(exp.Sum(this=exp.cast(nulls, "INT")), "rows_skipped", quoted=True),
        exp.alias_(exp.Max(this=created), "max_created", quoted=True),
    ).from_(source_table(scan, columns))
    if where is not None:
        query = query.where(where)
    return query.sql(dialect=SparkDialect)


def render_source_probe(scan: SourceScan) -> str:
    """``SELECT *`` from the scan's source: its schema, read without running it. The push log is
    checked against the definition when rows are pushed, so the probe reads the source alone."""
    return exp.select("*").from_(source_table(replace(scan, pushed=None))).sql(dialect=SparkDialect)


VERIFY = verify_queries.VerifyDialect(
    dialect=SparkDialect,
    source_table=source_table,
    scan_select=scan_select,
    naive=ntz,
    hash_fn="xxhash64",
)


def render_key_sample(scan: SourceScan, sample: int | None) -> str:
    """Distinct non-null ``scan.key_columns``, ordered by a hash of the keys (a stable sample)."""
    return verify_queries.render_key_sample(VERIFY, scan, sample)


def render_offline_event_times(scan: SourceScan, entity_table: str, ttl: timedelta | None) -> str:
    """Per entity row (``ROW_ID`` order), the greatest event time ``TS`` of the scan's rows with its
    keys, ``ts <= t`` and, with a ``ttl``, ``ts >= t - ttl`` (``verify_queries``)."""
    return verify_queries.render_offline_event_times(VERIFY, scan, entity_table, ttl)


def render_time_fix(column: str, actual: str, path: str | None, file_format: str) -> tuple[str, str]:
    """Spark SQL turning ``column`` into a timestamp (see ``Renderer.render_time_fix``); Spark has no
    ``* REPLACE``, so the other columns are to be listed. A relative path is shown under the repo root's
    placeholder: Spark SQL sources read absolute paths or URIs only.

    >>> render_time_fix("ts", "int64", "/d/a.csv", "csv")[0]
    "SELECT <other columns>, timestamp_seconds(ts) AS ts FROM csv.`/d/a.csv` WITH ('header' = 'true')"
    """
    if path is None:
        origin = "FROM (<your query>)"
    else:
        if not path.startswith("/") and "://" not in path:
            path = f"<repo root>/{path}"
        origin = f"FROM {file_format}.`{path}`" + (
            " WITH ('header' = 'true')" if file_format == "csv" else ""
        )
    if is_integer(actual):
        how = f"timestamp_seconds({column})"
        note = (
            f" if it holds seconds since the epoch (timestamp_millis({column}) for milliseconds, "
            f"timestamp_micros({column}) for microseconds)"
        )
    elif actual == "string":
        how = f"CAST({column} AS TIMESTAMP)"
        note = f" (to_timestamp({column}, '<format>') for other text formats)"
    else:
        how = f"CAST({column} AS TIMESTAMP)"
        note = ""
    return f"SELECT <other columns>, {how} AS {column} {origin}", note


class SparkRenderer:
    """``Renderer`` for Spark SQL: the point-in-time join lowered to a per-key sweep (``spark.py``),
    windowed aggregations to a sweep over range frames (``spark_window*.py``)."""

    dialect = "spark"
    source_dialect = SparkDialect  # Spark SQL with options on file reads

    def render_training_set(self, plan: TrainingSetPlan) -> str:
        return spark.render_training_set(plan, window_body=spark_window.render_window_aggregate)

    def render_preview(self, query: str, rows: int) -> str:
        return f"SELECT * FROM ({query}) AS preview LIMIT {int(rows)}"

    def render_latest(self, plan: LatestPerKey) -> str:
        return spark.render_latest(plan)

    def render_latest_stats(self, plan: LatestPerKey) -> str:
        return render_latest_stats(plan)

    def render_source_probe(self, scan: SourceScan) -> str:
        return render_source_probe(scan)

    def render_key_sample(self, scan: SourceScan, sample: int | None) -> str:
        return render_key_sample(scan, sample)

    def render_offline_event_times(self, scan: SourceScan, entity_table: str, ttl: timedelta | None) -> str:
        return render_offline_event_times(scan, entity_table, ttl)

    def render_time_fix(
        self, column: str, actual: str, path: str | None, file_format: str
    ) -> tuple[str, str]:
        return render_time_fix(column, actual, path, file_format)

    def render_partials(self, plan: AggregatesAt) -> str:
        return spark_window_latest.render_partials(plan)

    def render_aggregates_at(self, plan: AggregatesAt) -> str:
        return spark_window_latest.render_aggregates_at(plan)

    def render_created_mark(self, scan: SourceScan, upper: datetime, after: datetime | None) -> str:
        return spark_window_latest.render_created_mark(scan, upper, after)

    def render_aggregate_stats(self, plan: AggregatesAt) -> str:
        return spark_window_latest.render_aggregate_stats(plan)

    def render_check_counts(self, rows_query: str, measures: tuple[Measure, ...]) -> str:
        return check_queries.render_check_counts(_CHECKS, rows_query, measures)

    def render_check_offenders(
        self, rows_query: str, measure: Measure, keys: tuple[str, ...], limit: int
    ) -> str:
        return check_queries.render_check_offenders(_CHECKS, rows_query, measure, keys, limit)

    def render_source_rows(self, scan: SourceScan, features: tuple[str, ...]) -> str:
        return check_queries.render_source_rows(_CHECKS, scan, features)


_CHECKS = check_queries.CheckDialect(SparkDialect, scan_select)
