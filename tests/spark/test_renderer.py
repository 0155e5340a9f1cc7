"""``sql/spark.py`` beyond the hand-checked tables: latest values per key against DuckDB, pushed rows
read with the source, and what it refuses (nanosecond columns; windowed aggregations without the renderer)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pytest

from featurestore import FeatureStore
from featurestore.config import DuckDBConfig
from featurestore.engines import open_engine
from featurestore.engines.spark import SparkEngine
from featurestore.errors import FeatureStoreError, SourceError
from featurestore.plan.build import plan_latest
from featurestore.sql import duckdb as duckdb_sql
from featurestore.sql import spark as spark_sql
from tests.pit_repo import make_repo, table_of
from tests.spark.conftest import ComparedStore, spark_repo
from tests.test_point_in_time import DAY, DEFS, HEADERS, HOUR, MIN, TYPES, US, T, feature_rows

pytestmark = pytest.mark.spark

STATS = feature_rows(
    "stats",
    (1, T - MIN, T - MIN, 1, "x"),
    (1, T - MIN, T - MIN + US, 2, "x"),  # greatest created wins
    (1, T - 2 * MIN, T + DAY, 3, "x"),
    (2, T - MIN, None, 9, "z"),  # a null created sorts lowest
    (2, T - MIN, T - HOUR, 5, "a"),
    (3, T - MIN, T - MIN, 2, None),  # full tie on both times: the greatest values win, nulls lowest
    (3, T - MIN, T - MIN, 2, "b"),
    (3, T - MIN, T - MIN, None, "z"),
    (4, T + US, T + US, 7, "after the end"),
    (5, T - 2 * HOUR, T - 2 * HOUR, 8, "older than the ttl"),
    (None, T - MIN, T - MIN, 99, "null key"),
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    data = {f"data/{name}.parquet": feature_rows(name) for name in HEADERS}
    data["data/stats.parquet"] = STATS
    with make_repo(tmp_path, DEFS, data) as store:
        yield store


def _sorted_rows(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted(zip(*[table.column(n).to_pylist() for n in table.column_names], strict=True), key=repr)


@pytest.mark.parametrize(
    ("start", "changed_since"),
    [(None, None), (T - 30 * MIN, None), (None, (T - 90 * MIN, T + HOUR))],
    ids=["whole", "from a start", "changed since"],
)
def test_latest_per_key_matches_duckdb(
    store: FeatureStore,
    spark: SparkEngine,
    start: datetime | None,
    changed_since: tuple[datetime, datetime | None] | None,
) -> None:
    plan = plan_latest(
        store.registry.view("stats"), store.root, start=start, end=T, changed_since=changed_since
    )
    duckdb = open_engine(DuckDBConfig(), store.root)
    try:
        expected = duckdb.to_arrow(duckdb_sql.render_latest(plan))
    finally:
        duckdb.close()
    got = spark.to_arrow(spark_sql.render_latest(plan))
    assert got.schema == expected.schema
    assert _sorted_rows(got) == _sorted_rows(expected)
    if start is None and changed_since is None:  # by hand: keys 1, 2, 3 (4 is after the end, 5 too old)
        assert _sorted_rows(got.select(["driver_id", "a", "b"])) == [(1, 2, "x"), (2, 5, "a"), (3, 2, "b")]


def test_pushed_rows_are_read_with_the_source(tmp_path: Path, spark_session: object) -> None:
    data = {f"data/{name}.parquet": feature_rows(name) for name in HEADERS}
    data["data/stats.parquet"] = STATS
    pushed = table_of(
        ("driver_id", "ts", "created", "a", "b"),
        (1, T - 30 * US, T, 40, "pushed"),
        (6, T - HOUR, T - HOUR, 60, "pushed only"),
        types=TYPES,
    )
    entity = table_of(("driver_id", "event_timestamp"), (1, T), (6, T), (6, T - US), types=TYPES)
    with ComparedStore(spark_repo(tmp_path, DEFS, data)) as store:
        store.push("stats", pushed, to="offline")  # the offline push log, read by both engines
        out = store.get_training_set(entity, ["stats:a", "stats:b"]).to_arrow()
    assert out.column("b").to_pylist() == ["pushed", "pushed only", "pushed only"]


def test_nanosecond_source_columns_are_refused_with_the_view_and_column(tmp_path: Path) -> None:
    times = pa.array([1_704_110_400_000_000_001], pa.timestamp("ns"))
    data = {name: feature_rows(name) for name in HEADERS}
    data["life"] = pa.table(
        {"driver_id": pa.array([1], pa.int64()), "ts": times, "e": pa.array([1], pa.int64())}
    )
    with make_repo(tmp_path, DEFS, {f"data/{n}.parquet": t for n, t in data.items()}) as store:
        entity = table_of(("driver_id", "event_timestamp"), (1, T), types=TYPES)
        plan = store.get_training_set(entity, ["life:e"]).plan
        with pytest.raises(SourceError, match=r"feature view 'life': source column 'ts' holds nanosecond"):
            spark_sql.render_training_set(plan)
        with pytest.raises(SourceError, match="store it as microseconds"):
            spark_sql.render_latest(plan_latest(store.registry.view("life"), store.root, start=None, end=T))


AGGREGATION_DEFS = """
from featurestore import Aggregation

driver = Entity(name="driver", join_keys=["driver_id"])
trips = FeatureView(
    name="trips", entities=[driver],
    source=FileSource(name="trips_src", path="data/trips.parquet", timestamp_field="ts"),
    aggregations=[Aggregation("km", "sum", timedelta(hours=1))],
)
"""


def test_windowed_aggregations_are_rendered_by_the_renderer_as_range_frames(tmp_path: Path) -> None:
    from featurestore.sql.spark_renderer import SparkRenderer

    trips = table_of(("driver_id", "ts", "km"), (1, T - MIN, 2.5), types={**TYPES, "km": pa.float64()})
    with make_repo(tmp_path, AGGREGATION_DEFS, {"data/trips.parquet": trips}) as store:
        entity = table_of(("driver_id", "event_timestamp"), (1, T), types=TYPES)
        plan = store.get_training_set(entity, ["trips:km_sum_1h"]).plan
        with pytest.raises(
            FeatureStoreError, match=r"'trips' declares aggregations: render .* SparkRenderer"
        ):
            spark_sql.render_training_set(plan)
        assert "RANGE BETWEEN 3599999999 PRECEDING AND CURRENT ROW" in SparkRenderer().render_training_set(
            plan
        )
