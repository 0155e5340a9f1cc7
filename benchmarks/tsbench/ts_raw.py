"""The hand-written DuckDB queries that bound what a point-in-time join can cost on this machine.

Variants (all read the entity rows and the views from Parquet and return an Arrow table in input order):

* ``dedup``: per view, keep the greatest ``created`` per (key, ts) with a window, then ``ASOF LEFT JOIN``,
  then null out values older than the ttl; the views' results are joined on the entity row number.
* ``struct``: the same without a separate dedup step: the ASOF inequality is on the pair (ts, created),
  so among rows tied on ts the one created last wins.
* ``bare``: ASOF on ts alone, no dedup, no ttl: not correct, only the floor.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
from ts_spec import CREATED, ENTITY_COLUMNS, TIMESTAMP, VIEWS, DataPaths, ViewSpec

RAW_VARIANTS: tuple[str, ...] = ("dedup", "struct", "bare")
Bounds = tuple[str, str]  # the entity rows' min and max time, as SQL timestamp text


def _entity_cte(paths: DataPaths) -> str:
    columns = ", ".join(ENTITY_COLUMNS)
    return (
        f"entity AS (SELECT file_row_number AS row_id, {columns} "
        f"FROM read_parquet('{paths.entities}', file_row_number = true))"
    )


def _view_rows(paths: DataPaths, view: ViewSpec, variant: str, bounds: Bounds) -> str:
    """The view's rows, pruned to the columns and the time range the entity rows can reach."""
    columns = ", ".join([view.key, TIMESTAMP, CREATED, *view.feature_names])
    lower, upper = bounds
    rows = (
        f"SELECT {columns} FROM read_parquet('{paths.view(view.name)}') "
        f"WHERE {TIMESTAMP} >= TIMESTAMP '{lower}' - INTERVAL {view.ttl_days} DAY "
        f"AND {TIMESTAMP} <= TIMESTAMP '{upper}'"
    )
    if variant == "dedup":
        rows += (
            f" QUALIFY row_number() OVER (PARTITION BY {view.key}, {TIMESTAMP} ORDER BY {CREATED} DESC) = 1"
        )
    return rows


def _asof_condition(view: ViewSpec, variant: str) -> str:
    keys = f"e.{view.key} = v.{view.key}"
    if variant == "struct":
        left = f"struct_pack(t := e.{TIMESTAMP}, c := TIMESTAMP 'infinity')"
        right = f"struct_pack(t := v.{TIMESTAMP}, c := v.{CREATED})"
        return f"{keys} AND {left} >= {right}"
    return f"{keys} AND e.{TIMESTAMP} >= v.{TIMESTAMP}"


def _feature_columns(view: ViewSpec, variant: str) -> str:
    if variant == "bare":
        return ", ".join(f"v.{name}" for name in view.feature_names)
    fresh = f"v.{TIMESTAMP} >= e.{TIMESTAMP} - INTERVAL {view.ttl_days} DAY"
    return ", ".join(f"CASE WHEN {fresh} THEN v.{name} END AS {name}" for name in view.feature_names)


def _joined_cte(paths: DataPaths, view: ViewSpec, variant: str, bounds: Bounds) -> str:
    rows = _view_rows(paths, view, variant, bounds)
    return (
        f"{view.name} AS (SELECT e.row_id, {_feature_columns(view, variant)} FROM entity e "
        f"ASOF LEFT JOIN ({rows}) v ON {_asof_condition(view, variant)})"
    )


def raw_sql(paths: DataPaths, variant: str, bounds: Bounds) -> str:
    """The whole training-set query for one variant, given the entity rows' time range."""
    if variant not in RAW_VARIANTS:
        raise ValueError(f"unknown raw variant {variant!r}; expected one of {RAW_VARIANTS}")
    ctes = [_entity_cte(paths), *(_joined_cte(paths, view, variant, bounds) for view in VIEWS)]
    entity_columns = [f"e.{c}" for c in ENTITY_COLUMNS if c != TIMESTAMP]
    entity_columns.append(f"e.{TIMESTAMP}::TIMESTAMPTZ AS {TIMESTAMP}")
    features = [f"{view.name}.{name}" for view in VIEWS for name in view.feature_names]
    joins = " ".join(f"JOIN {view.name} USING (row_id)" for view in VIEWS)
    return (
        f"WITH {', '.join(ctes)} SELECT {', '.join(entity_columns + features)} "
        f"FROM entity e {joins} ORDER BY e.row_id"
    )


def entity_bounds(con: duckdb.DuckDBPyConnection, paths: DataPaths) -> Bounds:
    """The entity rows' time range, read first so the view scans get constant bounds to push down."""
    query = (
        f"SELECT min({TIMESTAMP})::VARCHAR, max({TIMESTAMP})::VARCHAR FROM read_parquet('{paths.entities}')"
    )
    lower, upper = con.sql(query).fetchall()[0]
    return str(lower), str(upper)


def run_raw(paths: DataPaths, variant: str) -> pa.Table:
    """Run one variant on a fresh in-memory connection and fetch the result to Arrow.

    UTC session; insertion order need not be kept since the query ends with ORDER BY the row number.
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    return con.sql(raw_sql(paths, variant, entity_bounds(con, paths))).to_arrow_table()
