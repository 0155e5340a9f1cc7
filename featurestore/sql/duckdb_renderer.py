"""The DuckDB renderer: ``DuckDBRenderer`` assembles the statements of ``duckdb.py`` and ``window*.py``.

>>> from featurestore.engines.base import Capabilities
>>> from featurestore.sql import renderer_for
>>> renderer_for(Capabilities(dialect="duckdb", asof_join=True, streams_parquet=True)).dialect
'duckdb'
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeGuard

from sqlglot import exp

from featurestore.dsl.dtypes import is_integer
from featurestore.plan.nodes import LatestPerKey, PointInTimeJoin, SourceScan, TrainingSetPlan
from featurestore.plan.window import AggregatesAt, WindowAggregate
from featurestore.sql import check_queries, duckdb, window_latest
from featurestore.sql.duckdb import DIALECT, ENTITY_TS, ROW_ID, asof_join, col, ident, ranked_join
from featurestore.sql.measures import Measure
from featurestore.sql.window import render_window_aggregate


def _join_body(join: PointInTimeJoin | WindowAggregate, entity_table: str) -> exp.Select:
    """One view's feature columns with ``__row_id``, one row per entity row (at most one, as known at)."""
    if isinstance(join, WindowAggregate):  # windowed aggregations: sql/window.py
        return render_window_aggregate(join, entity_table)
    return ranked_join(join, entity_table)


def _chained(join: PointInTimeJoin | WindowAggregate) -> TypeGuard[PointInTimeJoin]:
    """Is the join an ASOF join, one row out per row in, that can take the previous join's result?"""
    return isinstance(join, PointInTimeJoin) and not join.as_known_at


def _inner_name(join_index: int, feature_index: int) -> str:
    """A feature's column inside the chain of ASOF joins: never equal to a join key it travels with."""
    return f"__f{join_index}_{feature_index}"


def _asof_chain(plan: TrainingSetPlan) -> tuple[list[tuple[str, exp.Select]], dict[str, exp.Expr]]:
    """The ASOF joins as a chain of CTEs, each joining one view onto the previous one's rows (the
    first onto the entity rows), and where each of their features is read from the last one.

    Each step passes on the row id, the entity time and the keys later steps join on, and the
    features so far; so the views' results need no join on the row id, and the entity rows are read
    once."""
    chain = [(i, join) for i, join in enumerate(plan.joins) if _chained(join)]
    if not chain:
        return [], {}
    keys = list(dict.fromkeys(k for _, join in chain for k in join.keys))
    left: exp.Select | str = exp.select(col(ROW_ID), col(ENTITY_TS), *[col(k) for k in keys]).from_(
        exp.Table(this=ident(plan.entity.table))
    )
    ctes: list[tuple[str, exp.Select]] = []
    features: list[str] = []
    for step, (i, join) in enumerate(chain):
        later = chain[step + 1 :]
        passed = [ROW_ID]
        if later:
            passed.append(ENTITY_TS)
            passed.extend(dict.fromkeys(k for _, after in later for k in after.keys))
        passed.extend(features)
        names = [_inner_name(i, n) for n in range(len(join.features))]
        ctes.append((f"j{i}", asof_join(join, left, passed, names)))
        features.extend(names)
        left = f"j{i}"
    last = ctes[-1][0]
    columns: dict[str, exp.Expr] = {
        f.output: col(_inner_name(i, n), last) for i, join in chain for n, f in enumerate(join.features)
    }
    return ctes, columns


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
    to the entity rows' own Arrow table, so every input column comes back exactly as given. The ASOF
    joins run as one chain (``_asof_chain``); the others (as known at, windowed aggregations) are
    joined on the row id.
    """
    ctes, columns = _asof_chain(plan)
    others = [(f"j{i}", join) for i, join in enumerate(plan.joins) if not _chained(join)]
    if ctes:
        base = ctes[-1][0]
    elif len(others) == 1 and not others[0][1].as_known_at:
        base = others[0][0]  # a windowed aggregation: one row per entity row already, no join back
    else:
        base = "e"
    query = exp.select().from_(
        exp.Table(this=ident(plan.entity.table), alias=exp.TableAlias(this=ident("e")))
        if base == "e"
        else exp.Table(this=ident(base))
    )
    for alias, join in others:
        ctes.append((alias, _join_body(join, plan.entity.table)))
        if alias != base:
            query = query.join(
                exp.Table(this=ident(alias)),
                on=exp.EQ(this=col(ROW_ID, alias), expression=col(ROW_ID, base)),
                join_type="LEFT",
            )
        columns.update({f.output: col(f.output, alias) for f in join.features})
    order = plan.column_order or tuple(columns)
    query = query.select(
        *[
            exp.alias_(columns[name], name, quoted=True) if columns[name].name != name else columns[name]
            for name in order
        ]
    )
    for alias, body in ctes:
        query = query.with_(ident(alias), as_=body)
    return query.order_by(col(ROW_ID, base)).sql(dialect=DIALECT, pretty=True)


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
