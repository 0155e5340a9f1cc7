"""Golden SQL of validation's queries in both dialects (``tests/golden/<dialect>/checks_*.sql``; rewrite
with ``pytest --update-golden`` and review the diff)."""

from __future__ import annotations

import pytest

from featurestore.sql.duckdb_renderer import DuckDBRenderer
from featurestore.sql.measures import Measure
from featurestore.sql.spark_renderer import SparkRenderer
from tests.golden import check_golden

ROWS = 'SELECT "driver_id", "__event_ts", "conv_rate", "tier" FROM "latest_rows"'
MEASURES = (
    Measure("m0", "rows"),
    Measure("m1", "newest"),
    Measure("m2", "nulls", "conv_rate", is_float=True),
    Measure("m3", "outside", "conv_rate", is_float=True, low=0, high=1.5),
    Measure("m4", "min", "conv_rate", is_float=True),
    Measure("m5", "max", "conv_rate", is_float=True),
    Measure("m6", "not_allowed", "tier", values=("gold", "it's")),
)


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_check_queries(request: pytest.FixtureRequest, dialect: str) -> None:
    renderer = SparkRenderer() if dialect == "spark" else DuckDBRenderer()
    rows = ROWS.replace('"', "`") if dialect == "spark" else ROWS
    check_golden(request.config, dialect, "checks_counts", renderer.render_check_counts(rows, MEASURES))
    sql = renderer.render_check_offenders(rows, MEASURES[6], ("driver_id",), 5)
    check_golden(request.config, dialect, "checks_offenders", sql)
    sql = renderer.render_check_offenders(
        rows, Measure("m", "outside", "conv_rate", low=None, high=1), ("driver_id",), 5
    )
    check_golden(request.config, dialect, "checks_offenders_max", sql)
