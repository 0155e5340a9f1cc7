"""The DuckDB renderer: ``DuckDBRenderer`` assembles the statements of ``duckdb.py`` and ``window*.py``.

>>> from featurestore.engines.base import Capabilities
>>> from featurestore.sql import renderer_for
>>> renderer_for(Capabilities(dialect="duckdb", asof_join=True, streams_parquet=True)).dialect
'duckdb'
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlglot import exp

from featurestore.dsl.dtypes import is_integer
from featurestore.plan.nodes import LatestPerKey, PointInTimeJoin, SourceScan, TrainingSetPlan
from featurestore.plan.window import AggregatesAt, WindowAggregate
from featurestore.sql import check_queries, duckdb, window_latest
from featurestore.sql.duckdb import DIALECT, ROW_ID, asof_join, col, ident, ranked_join
from featurestore.sql.measures import Measure
from featurestore.sql.window import render_window_aggregate


def _join_body(join: PointInTimeJoin | WindowAggregate, entity_table: str) -> exp.Select:
    """One view's feature columns with ``__row_id``, one row per entity row."""
    if isinstance(join, WindowAggregate):  # windowed aggregations: sql/window.py
        return render_window_aggregate(join, entity_table)
    return ranked_join(join, entity_table) if join.as_known_at else asof_join(join, entity_table)


def render_time_fix(column: str, actual: str, path: str | None, file_format: str) -> tuple[str, str]:
    """DuckDB SQL turning ``column`` into a timestamp (see ``Renderer.render_time_fix``).

    >>> render_time_fix("ts", "int64", "data/a.csv", "csv")[0]
    "SELECT * REPLACE (to_timestamp(ts) AS ts) FROM read_csv('data/a.csv')"
    """
    origin = f"FROM {'read_csv' if file_format == 'csv' else 'read_parquet'}('{path}')" if path else ""
    origin = origin or "FROM (<your query>)"
    if is_integer(actual):
        how = f"to_timestamp({column})"
        note = (
            f" if it holds seconds since the epoch (epoch_ms({column}) for milliseconds, "
            f"make_timestamp({column}) for microseconds)"
        )
    elif actual == "string":
        how = f"CAST({column} AS TIMESTAMPTZ)"
        note = f" (strptime({column}, '<format>') for other text formats)"
    else:
        how = f"CAST({column} AS TIMESTAMP)"
        note = ""
    return f"SELECT * REPLACE ({how} AS {column}) {origin}", note


def render_training_set(plan: TrainingSetPlan) -> str:
    """The feature columns of a training set, one row per entity row, in input order.

    The input columns are not carried through the joins: the caller attaches these feature columns
    to the entity rows' own Arrow table, so every input column comes back exactly as given.
    """
    entity = plan.entity
    if len(plan.joins) == 1 and not plan.joins[0].as_known_at:
        # One ASOF LEFT JOIN already yields exactly one row per entity row: no join back needed.
        join = plan.joins[0]
        body = _join_body(join, entity.table)
        query = exp.select(*[col(f.output, "j0") for f in join.features]).from_(exp.Table(this=ident("j0")))
        return (
            query.with_(ident("j0"), as_=body).order_by(col(ROW_ID, "j0")).sql(dialect=DIALECT, pretty=True)
        )
    query = exp.select().from_(exp.Table(this=ident(entity.table), alias=exp.TableAlias(this=ident("e"))))
    ctes = []
    owner = {f.output: f"j{i}" for i, join in enumerate(plan.joins) for f in join.features}
    order = plan.column_order or tuple(owner)
    query = query.select(*[col(name, owner[name]) for name in order])
    for i, join in enumerate(plan.joins):
        alias = f"j{i}"
        ctes.append((alias, _join_body(join, entity.table)))
        query = query.join(
            exp.Table(this=ident(alias)),
            on=exp.EQ(this=col(ROW_ID, alias), expression=col(ROW_ID, "e")),
            join_type="LEFT",
        )
    for alias, body in ctes:
        query = query.with_(ident(alias), as_=body)
    query = query.order_by(col(ROW_ID, "e"))
    return query.sql(dialect=DIALECT, pretty=True)


class DuckDBRenderer:
    """``Renderer`` for DuckDB: native ``ASOF LEFT JOIN``, ``read_parquet`` / ``read_csv`` scans."""

    dialect = DIALECT
    source_dialect = DIALECT

    def render_training_set(self, plan: TrainingSetPlan) -> str:
        return render_training_set(plan)

    def render_preview(self, query: str, rows: int) -> str:
        return f"SELECT * FROM ({query}) LIMIT {int(rows)}"

    def render_latest(self, plan: LatestPerKey) -> str:
        return duckdb.render_latest(plan)

    def render_latest_stats(self, plan: LatestPerKey) -> str:
        return duckdb.render_latest_stats(plan)

    def render_source_probe(self, scan: SourceScan) -> str:
        return duckdb.render_source_probe(scan)

    def render_key_sample(self, scan: SourceScan, sample: int | None) -> str:
        return duckdb.render_key_sample(scan, sample)

    def render_offline_event_times(self, scan: SourceScan, entity_table: str, ttl: timedelta | None) -> str:
        return duckdb.render_offline_event_times(scan, entity_table, ttl)

    def render_time_fix(
        self, column: str, actual: str, path: str | None, file_format: str
    ) -> tuple[str, str]:
        return render_time_fix(column, actual, path, file_format)

    def render_partials(self, plan: AggregatesAt) -> str:
        return window_latest.render_partials(plan)

    def render_aggregates_at(self, plan: AggregatesAt) -> str:
        return window_latest.render_aggregates_at(plan)

    def render_created_mark(self, scan: SourceScan, upper: datetime, after: datetime | None) -> str:
        return window_latest.render_created_mark(scan, upper, after)

    def render_aggregate_stats(self, plan: AggregatesAt) -> str:
        return window_latest.render_aggregate_stats(plan)

    def render_check_counts(self, rows_query: str, measures: tuple[Measure, ...]) -> str:
        return check_queries.render_check_counts(_CHECKS, rows_query, measures)

    def render_check_offenders(
        self, rows_query: str, measure: Measure, keys: tuple[str, ...], limit: int
    ) -> str:
        return check_queries.render_check_offenders(_CHECKS, rows_query, measure, keys, limit)

    def render_source_rows(self, scan: SourceScan, features: tuple[str, ...]) -> str:
        return check_queries.render_source_rows(_CHECKS, scan, features)


_CHECKS = check_queries.CheckDialect(DIALECT, duckdb.scan_select)
