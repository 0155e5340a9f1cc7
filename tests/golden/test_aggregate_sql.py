"""Golden SQL of each aggregate function per dialect: ``tests/golden/<dialect>/aggregate_<fn>.sql``.

Each file holds two statements for one function over a hand-built plan: the training-set sweep
(``render_window_aggregate``: a 1h window and the lifetime) and the materialization query
(``render_aggregates_at``: the same windows as of one time, the lifetime merged from stored partial states),
so a change to how a function is swept, or to its partial state, shows as a diff of one file.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from featurestore.plan.nodes import SourceScan
from featurestore.plan.window import AggregatesAt, WindowAggregate, WindowedValue
from featurestore.registry.partials import LifetimePartials
from featurestore.sql import spark_window, spark_window_latest, window, window_latest
from featurestore.sql.duckdb import DIALECT
from featurestore.sql.spark import SparkDialect
from tests.golden import check_golden

# function -> (aggregated column, its source type, the output dtype)
CASES: dict[str, tuple[str, str, str]] = {
    "count": ("amount", "double", "int64"),
    "sum": ("amount", "double", "float64"),
    "mean": ("amount", "double", "float64"),
    "min": ("amount", "double", "float64"),
    "max": ("amount", "double", "float64"),
    "stddev": ("amount", "double", "float64"),
    "last": ("merchant", "string", "string"),
    "count_distinct": ("merchant", "string", "int64"),
}

SCAN = SourceScan(
    view="payments",
    kind="file",
    location="/data/payments.parquet",
    file_format="parquet",
    hive_partitioning=False,
    timestamp_field="ts",
    timestamp_type="timestamp[us]",
    created_field="created",
    key_columns=("customer_id",),
)


def aggregates(function: str) -> tuple[WindowedValue, ...]:
    """One aggregate of ``function`` over 1h, and one over the lifetime."""
    column, column_type, dtype = CASES[function]
    return tuple(
        WindowedValue(f"{column}_{function}_{label}", column, function, window, dtype, label, column_type)
        for label, window in (("w1h", timedelta(hours=1)), ("life", None))
    )


def rendered(function: str, dialect: str = "duckdb") -> str:
    """Both statements of ``function``'s golden file in ``dialect``."""
    values = aggregates(function)
    columns = ("customer_id", "ts", "created", values[0].column)
    scan = SourceScan(**{**SCAN.__dict__, "columns": columns})
    sweep = WindowAggregate("payments", scan, ("customer_id",), values)
    partials = LifetimePartials(
        "/state/payments/v1.parquet", datetime(2024, 1, 1), datetime(2024, 1, 1, 0, 5)
    )
    at = AggregatesAt("payments", scan, ("customer_id",), values, end=datetime(2024, 1, 2), frozen=partials)
    if dialect == "spark":
        training = spark_window.render_window_aggregate(sweep, "entity_rows").sql(
            dialect=SparkDialect, pretty=True
        )
        materialize = spark_window_latest.render_aggregates_at(at)
    else:
        training = window.render_window_aggregate(sweep, "entity_rows").sql(dialect=DIALECT, pretty=True)
        materialize = window_latest.render_aggregates_at(at)
    return f"-- training set\n{training};\n\n-- materialize\n{materialize};"


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
@pytest.mark.parametrize("function", sorted(CASES))
def test_aggregate_sql(request: pytest.FixtureRequest, function: str, dialect: str) -> None:
    check_golden(request.config, dialect, f"aggregate_{function}", rendered(function, dialect))
