"""Golden SQL of the DuckDB renderer, for plans built by hand (no FeatureStore, no engine).

Review a change to ``tests/golden/duckdb/*.sql`` as you would review the renderer's code; rewrite them
with ``pytest --update-golden``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from featurestore.engines.duckdb import DuckDBEngine
from featurestore.plan.nodes import (
    EntityRows,
    FeatureColumn,
    LatestPerKey,
    PointInTimeJoin,
    SourceScan,
    TrainingSetPlan,
)
from featurestore.sql import renderer_for
from featurestore.sql.renderer import Renderer
from tests.golden import check_golden

T0 = datetime(2024, 1, 1)
T1 = datetime(2024, 1, 31, 23, 59, 59, 999999)

TRIPS = SourceScan(
    view="driver_stats",
    kind="file",
    location="/repo/data/driver_stats.parquet",
    file_format="parquet",
    hive_partitioning=False,
    timestamp_field="event_timestamp",
    timestamp_type="timestamp[us]",
    created_field="created",
    key_columns=("driver_id",),
)
ORDERS = SourceScan(
    view="orders",
    kind="file",
    location="/repo/data/orders/**/*.csv",
    file_format="csv",
    hive_partitioning=True,
    timestamp_field="ts",
    timestamp_type="timestamp[us, tz=UTC]",
    created_field=None,
    key_columns=("customer_id", "store_id"),
)
QUERY = SourceScan(
    view="clicks",
    kind="sql",
    location="SELECT user_id, ts, clicks FROM read_parquet('data/clicks/*.parquet') WHERE clicks >= 0",
    file_format="parquet",
    hive_partitioning=False,
    timestamp_field="ts",
    timestamp_type="timestamp[us]",
    created_field=None,
    key_columns=("user_id",),
)
ENTITY = EntityRows(
    table="__entity_rows_0",
    columns=("driver_id", "customer_id", "store_id", "event_timestamp"),
    timestamp_column="event_timestamp",
    row_count=3,
    min_ts=T0,
    max_ts=T1,
)


def _driver_join(*, as_known_at: bool = False) -> PointInTimeJoin:
    return PointInTimeJoin(
        view="driver_stats",
        scan=replace(TRIPS, columns=("driver_id", "event_timestamp", "created", "conv_rate"), upper=T1),
        keys=("driver_id",),
        features=(FeatureColumn("conv_rate", "float64", "conv_rate", "double"),),
        tie_break=("conv_rate", "acc_rate"),
        ttl=timedelta(days=1),
        as_known_at=as_known_at,
    )


def _orders_join() -> PointInTimeJoin:
    return PointInTimeJoin(
        view="orders",
        scan=replace(ORDERS, lower=T0 - timedelta(hours=2), upper=T1),
        keys=("customer_id", "store_id"),
        features=(
            FeatureColumn("amount", "float64", "orders__amount", "double"),
            FeatureColumn("items", "int64", "orders__items", "int64"),
        ),
        tie_break=("amount", "items"),
        ttl=timedelta(hours=2),
    )


def _mixed_plan() -> TrainingSetPlan:
    """A nanosecond view, a view excluding events at t (chained ASOF joins, ties removed at full
    precision) and a view as known at (a range join, joined back on the row id)."""
    nanos = replace(TRIPS, timestamp_type="timestamp[ns]", created_type="timestamp[ns]")
    fine = replace(
        _driver_join(),
        view="driver_ns",
        scan=replace(nanos, columns=("driver_id", "event_timestamp", "created", "conv_rate"), upper=T1),
        features=(FeatureColumn("conv_rate", "float64", "ns__conv_rate", "double"),),
    )
    orders = _orders_join()
    exclusive = replace(orders, scan=replace(orders.scan, exclude_current_time=True))
    return TrainingSetPlan(ENTITY, (fine, exclusive, _driver_join(as_known_at=True)))


def _latest(**changes: object) -> LatestPerKey:
    plan = LatestPerKey(
        view="driver_stats",
        scan=replace(TRIPS, lower=T0, upper=T1),
        keys=("driver_id",),
        features=(
            FeatureColumn("conv_rate", "float64", "conv_rate", "double"),
            FeatureColumn("trips", "int64", "trips", "int32"),
        ),
        tie_break=("conv_rate", "trips"),
        start=T0,
        end=T1,
        ttl=timedelta(days=1),
    )
    return replace(plan, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return renderer_for(DuckDBEngine.capabilities)


def test_the_duckdb_engine_gets_the_duckdb_renderer(renderer: Renderer) -> None:
    assert renderer.dialect == "duckdb"


@pytest.mark.parametrize(
    ("case", "plan"),
    [
        ("training_one_view", TrainingSetPlan(ENTITY, (_driver_join(),))),
        (
            "training_two_views_composite_keys_ttl",
            TrainingSetPlan(
                ENTITY,
                (_driver_join(), _orders_join()),
                column_order=("orders__items", "conv_rate", "orders__amount"),
            ),
        ),
        ("training_as_known_at", TrainingSetPlan(ENTITY, (_driver_join(as_known_at=True),))),
        ("training_nanoseconds_exclusive_and_as_known_at", _mixed_plan()),
    ],
)
def test_training_set(
    request: pytest.FixtureRequest, renderer: Renderer, case: str, plan: TrainingSetPlan
) -> None:
    check_golden(request.config, "duckdb", case, renderer.render_training_set(plan))


@pytest.mark.parametrize(
    ("case", "plan"),
    [
        ("latest", _latest()),
        ("latest_changed_since", _latest(changed_since=(T0 + timedelta(days=3), T0 + timedelta(days=2)))),
    ],
)
def test_latest(request: pytest.FixtureRequest, renderer: Renderer, case: str, plan: LatestPerKey) -> None:
    check_golden(request.config, "duckdb", case, renderer.render_latest(plan))
    check_golden(request.config, "duckdb", f"{case}_stats", renderer.render_latest_stats(plan))


@pytest.mark.parametrize(
    ("case", "scan"),
    [
        ("probe_file", TRIPS),
        ("probe_csv_glob_hive", ORDERS),
        ("probe_sql_source", QUERY),
        ("probe_pushed_log", replace(TRIPS, pushed="/repo/.featurestore/push_log/driver_stats/*.parquet")),
    ],
)
def test_source_probe(
    request: pytest.FixtureRequest, renderer: Renderer, case: str, scan: SourceScan
) -> None:
    check_golden(request.config, "duckdb", case, renderer.render_source_probe(scan))


def test_verify_queries(request: pytest.FixtureRequest, renderer: Renderer) -> None:
    check_golden(request.config, "duckdb", "verify_key_sample", renderer.render_key_sample(ORDERS, 100))
    sql = renderer.render_offline_event_times(TRIPS, "__verify_entities_0", timedelta(days=1))
    check_golden(request.config, "duckdb", "verify_offline_event_times", sql)


def test_a_sql_source_is_read_in_its_own_dialect(renderer: Renderer) -> None:
    """The query is parsed with its source's dialect, then written in the engine's."""
    spark = replace(QUERY, location="SELECT user_id, ts, clicks FROM clicks WHERE clicks RLIKE '^[0-9]+$'")
    rendered = renderer.render_source_probe(replace(spark, query_dialect="spark"))
    assert "REGEXP_MATCHES(clicks, '^[0-9]+$')" in rendered
