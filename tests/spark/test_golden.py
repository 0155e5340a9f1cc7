"""Golden Spark SQL for hand-built plans (``tests/golden/spark/*.sql``): the renderer reviewable
without running it. No Spark session needed."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from featurestore.plan.nodes import (
    EntityRows,
    FeatureColumn,
    LatestPerKey,
    PointInTimeJoin,
    SourceScan,
    TrainingSetPlan,
)
from featurestore.sql import spark as spark_sql
from tests.golden import check_golden

T = datetime(2024, 1, 1, 12)
STATS = SourceScan(
    view="stats",
    kind="file",
    location="/repo/data/stats.parquet",
    file_format="parquet",
    hive_partitioning=False,
    timestamp_field="ts",
    timestamp_type="timestamp[us]",
    created_field="created",
    key_columns=("driver_id",),
    lower=T - timedelta(hours=1),
    upper=T,
)
PAIRS = SourceScan(
    view="pairs",
    kind="file",
    location="/repo/data/pairs/**/*.csv",
    file_format="csv",
    hive_partitioning=False,
    timestamp_field="ts",
    timestamp_type="timestamp[us, tz=UTC]",
    created_field=None,
    key_columns=("driver_id", "customer_id"),
    upper=T,
)
ENTITY = EntityRows(
    table="__entity_rows_0",
    columns=("driver_id", "customer_id", "event_timestamp"),
    timestamp_column="event_timestamp",
    row_count=3,
    min_ts=T - timedelta(days=1),
    max_ts=T,
)


def _stats(**changes: object) -> PointInTimeJoin:
    join = PointInTimeJoin(
        view="stats",
        scan=STATS,
        keys=("driver_id",),
        features=(FeatureColumn("b", "string", "stats__b"), FeatureColumn("a", "int64", "stats__a")),
        tie_break=("a", "b"),
        ttl=timedelta(hours=1),
    )
    return replace(join, **changes)  # type: ignore[arg-type]


PAIRS_JOIN = PointInTimeJoin(
    view="pairs",
    scan=PAIRS,
    keys=("driver_id", "customer_id"),
    features=(FeatureColumn("p", "float64", "p"),),
    tie_break=("p",),
    ttl=None,
)


@pytest.mark.parametrize(
    ("case", "plan"),
    [
        ("training_set_one_view", TrainingSetPlan(ENTITY, (_stats(),), ("stats__b", "stats__a"))),
        (
            "training_set_two_views_interleaved",
            TrainingSetPlan(ENTITY, (_stats(), PAIRS_JOIN), ("stats__a", "p", "stats__b")),
        ),
        (
            "training_set_as_known_at",
            TrainingSetPlan(ENTITY, (_stats(as_known_at=True),), ("stats__b", "stats__a")),
        ),
        (
            "training_set_hive_and_pushed",
            TrainingSetPlan(
                ENTITY,
                (
                    _stats(
                        scan=replace(
                            STATS,
                            location="/repo/data/stats/**/*.parquet",
                            hive_partitioning=True,
                            pushed="/repo/.featurestore/push_log/stats/*.parquet",
                        )
                    ),
                ),
                ("stats__b", "stats__a"),
            ),
        ),
    ],
)
def test_training_set_sql(request: pytest.FixtureRequest, case: str, plan: TrainingSetPlan) -> None:
    check_golden(request.config, "spark", case, spark_sql.render_training_set(plan))


def test_latest_sql(request: pytest.FixtureRequest) -> None:
    plan = LatestPerKey(
        view="stats",
        scan=STATS,
        keys=("driver_id",),
        features=(FeatureColumn("a", "int64", "a"), FeatureColumn("b", "string", "b")),
        tie_break=("a", "b"),
        start=None,
        end=T,
        ttl=timedelta(hours=1),
        changed_since=(T - timedelta(minutes=5), T - timedelta(minutes=1)),
    )
    check_golden(request.config, "spark", "latest_changed_since", spark_sql.render_latest(plan))
