"""Golden SQL, in both dialects, of the statements whose tree is the same in DuckDB and Spark: verify's
queries (the key sample, the offline event times) and the materialization queries of windowed
aggregations that read late rows (partial states, the created mark, a value query with late rows).

``tests/golden/<dialect>/<case>.sql``; rewrite with ``pytest --update-golden`` and review the diff.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from featurestore.plan.nodes import SourceScan
from featurestore.plan.window import AggregatesAt, WindowedValue
from featurestore.registry.partials import LifetimePartials
from featurestore.sql import spark_renderer, spark_window_latest, window_latest
from featurestore.sql.duckdb_renderer import DuckDBRenderer
from tests.golden import check_golden

DIALECTS = ["duckdb", "spark"]

ORDERS = SourceScan(
    view="orders",
    kind="file",
    location="/repo/data/orders.parquet",
    file_format="parquet",
    hive_partitioning=False,
    timestamp_field="ts",
    timestamp_type="timestamp[us]",
    created_field="created",
    key_columns=("customer_id", "store_id"),
)
PAYMENTS = SourceScan(
    view="payments",
    kind="file",
    location="/data/payments.parquet",
    file_format="parquet",
    hive_partitioning=False,
    timestamp_field="ts",
    timestamp_type="timestamp[us]",
    created_field="created",
    key_columns=("customer_id",),
    columns=("customer_id", "ts", "created", "amount"),
)
VALUES = (
    WindowedValue("amount_sum_w1h", "amount", "sum", timedelta(hours=1), "float64", "w1h", "double"),
    WindowedValue("amount_sum_life", "amount", "sum", None, "float64", "life", "double"),
)
BASE = LifetimePartials("/state/payments/v1.parquet", datetime(2024, 1, 1), datetime(2024, 1, 1, 0, 5))
FROZEN = LifetimePartials("/state/payments/v2.parquet", datetime(2024, 1, 2), datetime(2024, 1, 2, 0, 5))


def _renderer(dialect: str) -> DuckDBRenderer | spark_renderer.SparkRenderer:
    return spark_renderer.SparkRenderer() if dialect == "spark" else DuckDBRenderer()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_verify_queries(request: pytest.FixtureRequest, dialect: str) -> None:
    renderer = _renderer(dialect)
    check_golden(request.config, dialect, "shared_key_sample", renderer.render_key_sample(ORDERS, 100))
    check_golden(request.config, dialect, "shared_key_sample_all", renderer.render_key_sample(ORDERS, None))
    sql = renderer.render_offline_event_times(ORDERS, "__verify_entities_0", timedelta(days=1))
    check_golden(request.config, dialect, "shared_offline_event_times_ttl", sql)
    sql = renderer.render_offline_event_times(ORDERS, "__verify_entities_0", None)
    check_golden(request.config, dialect, "shared_offline_event_times", sql)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_window_marks(request: pytest.FixtureRequest, dialect: str) -> None:
    module = spark_window_latest if dialect == "spark" else window_latest
    first = AggregatesAt(
        "payments", PAYMENTS, ("customer_id",), VALUES, end=datetime(2024, 1, 2), frozen=FROZEN
    )
    check_golden(request.config, dialect, "shared_partials_first", module.render_partials(first))
    merged = AggregatesAt(
        "payments", PAYMENTS, ("customer_id",), VALUES, end=datetime(2024, 1, 2), frozen=FROZEN, base=BASE
    )
    check_golden(request.config, dialect, "shared_partials_merged", module.render_partials(merged))
    late = AggregatesAt(
        "payments",
        PAYMENTS,
        ("customer_id",),
        VALUES,
        end=datetime(2024, 1, 2),
        since=datetime(2024, 1, 1, 12),
        new_since=datetime(2024, 1, 1, 12),
        late_created=datetime(2024, 1, 1, 12, 5),
    )
    check_golden(request.config, dialect, "shared_aggregates_at_late", module.render_aggregates_at(late))
    for case, after in (
        ("shared_created_mark", datetime(2024, 1, 1, 0, 5)),
        ("shared_created_mark_all", None),
    ):
        sql = module.render_created_mark(PAYMENTS, datetime(2024, 1, 2), after)
        check_golden(request.config, dialect, case, sql)
