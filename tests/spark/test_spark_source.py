"""``SparkSource(table=...)``: a view read from a table of the Spark catalog, on the Spark engine only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from featurestore import SparkSource
from featurestore.errors import DefinitionError
from tests.pit_repo import make_repo, naive, rows, table_of
from tests.spark.conftest import spark_repo

pytestmark = pytest.mark.spark

VIEW = """
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(
    name="stats",
    entities=[driver],
    source=SparkSource(name="stats_table", table="{table}", timestamp_field="ts"),
    ttl=None,
    features=[Feature("trips", "int64")],
)
"""


def catalog_table(session: Any, root: Path) -> str:
    """An external Parquet table ``fs_src.driver_stats`` in a database whose files live under ``root``
    (nothing is written to the working directory's warehouse)."""
    session.sql(f"CREATE DATABASE IF NOT EXISTS fs_src LOCATION '{(root / 'warehouse').as_posix()}'")
    events = session.createDataFrame(
        [(1, naive(2024, 1, 1), 3), (1, naive(2024, 1, 3), 5), (2, naive(2024, 1, 2), 7)],
        "driver_id BIGINT, ts TIMESTAMP_NTZ, trips BIGINT",
    )
    events.write.mode("overwrite").format("parquet").option("path", str(root / "t")).saveAsTable(
        "fs_src.driver_stats"
    )
    return "fs_src.driver_stats"


def test_a_catalog_table_feeds_a_training_set(spark_session: Any, tmp_path: Path) -> None:
    table = catalog_table(spark_session, tmp_path)
    with spark_repo(tmp_path / "repo", VIEW.replace("{table}", table)) as store:
        entity = table_of(
            ("driver_id", "event_timestamp"),
            (1, naive(2024, 1, 2)),  # the Jan 1 row: 3
            (1, naive(2024, 1, 3)),  # a row stamped exactly at t counts: 5
            (2, naive(2024, 1, 1)),  # before driver 2's only row: null
            (3, naive(2024, 1, 9)),  # no such driver: null
        )
        got = store.get_training_set(entity, ["stats:trips"]).to_arrow()
    assert rows(got, "driver_id", "trips") == [(1, 3), (1, 5), (2, None), (3, None)]
    assert got.schema.field("trips").type == pa.int64()


def test_duckdb_refuses_a_spark_table_at_apply_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as caught:
        make_repo(tmp_path / "repo", VIEW.replace("{table}", "fs_src.driver_stats"))
    message = str(caught.value)
    assert "SparkSource 'stats_table'" in message
    assert "definitions/" in message
    assert 'engine = "spark"' in message
    assert "'duckdb'" in message
    assert not (tmp_path / "repo" / ".featurestore" / "registry.json").exists()  # nothing written


def test_a_table_name_must_be_plain_identifiers() -> None:
    with pytest.raises(DefinitionError, match="not a Spark table name"):
        SparkSource(name="s", table="db.events; DROP TABLE x")
