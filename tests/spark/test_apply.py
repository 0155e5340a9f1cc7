"""apply with ``[offline] engine = "spark"``: schema probes in Spark SQL, SQL sources parsed in their own
dialect (refused when it is not the engine's), relative paths in a Spark SQL source refused, and the
timestamp hint written in Spark SQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from featurestore import FeatureStore
from featurestore.errors import DefinitionError, SchemaMismatchError, SourceError
from tests.pit_repo import rows, table_of, write_data, write_definitions
from tests.spark.conftest import write_spark_config
from tests.test_point_in_time import HOUR, MIN, TYPES, T

pytestmark = pytest.mark.spark

EVENTS = table_of(
    ("driver_id", "ts", "v"),
    (1, T - 2 * HOUR, 10),
    (1, T - MIN, 11),
    (2, T - MIN, 20),
    types={**TYPES, "v": pa.int64()},
)


def sql_view(query: str, dialect: str = "spark") -> str:
    return f'''
driver = Entity(name="driver", join_keys=["driver_id"])
events = FeatureView(
    name="events", entities=[driver], ttl=timedelta(hours=1),
    source=SqlSource(name="events_src", query="{query}", dialect="{dialect}", timestamp_field="ts"),
    features=[Feature("v", "int64")],
)
'''


def spark_store(root: Path, definitions: str, data: dict[str, Any]) -> FeatureStore:
    write_spark_config(root)
    write_definitions(root, definitions)
    for relative, table in data.items():
        write_data(root, relative, table)
    return FeatureStore(root)


def test_a_spark_sql_source_with_an_absolute_path_is_probed_and_read(
    tmp_path: Path, spark_session: Any
) -> None:
    path = (tmp_path / "data" / "events.parquet").as_posix()
    query = f"SELECT driver_id, ts, v FROM parquet.`{path}` WHERE v > 10"
    with spark_store(tmp_path, sql_view(query), {"data/events.parquet": EVENTS}) as store:
        store.apply()
        assert store.registry.view("events").source_schema == {
            "driver_id": "int64",
            "ts": "timestamp[us]",
            "v": "int64",
        }
        entity = table_of(("driver_id", "event_timestamp"), (1, T), (2, T), (1, T - HOUR), types=TYPES)
        # by hand: driver 1 at T sees 11 (10 is filtered out by the query), 2 sees 20; at T - 1h, none
        out = store.get_training_set(entity, ["events:v"]).to_arrow()
        assert rows(out, "driver_id", "v") == [(1, 11), (2, 20), (1, None)]


def test_a_relative_path_in_a_spark_sql_source_is_refused_with_the_absolute_one(
    tmp_path: Path, spark_session: Any
) -> None:
    query = "SELECT driver_id, ts, v FROM parquet.`data/events.parquet`"
    with (
        spark_store(tmp_path, sql_view(query), {"data/events.parquet": EVENTS}) as store,
        pytest.raises(SourceError) as caught,
    ):
        store.apply()
    message = str(caught.value)
    assert "source 'events_src' of feature view 'events'" in message
    assert "defs.py:" in message
    assert "relative path 'data/events.parquet'" in message
    assert f"write it absolute ({(tmp_path / 'data/events.parquet').resolve().as_posix()})" in message


def test_a_duckdb_sql_source_is_refused_on_spark_with_the_reason(tmp_path: Path, spark_session: Any) -> None:
    query = "SELECT * FROM read_parquet('data/events.parquet')"
    with (
        spark_store(tmp_path, sql_view(query, "duckdb"), {"data/events.parquet": EVENTS}) as store,
        pytest.raises(DefinitionError, match=r"'events_src'.*dialect 'duckdb' but the engine runs 'spark'"),
    ):
        store.apply()


def test_a_spark_sql_source_is_parsed_as_spark_sql(tmp_path: Path, spark_session: Any) -> None:
    query = "SELECT driver_id, ts, v FROM parquet.`/nowhere.parquet` WHERE"
    with (
        spark_store(tmp_path, sql_view(query), {}) as store,
        pytest.raises(SourceError, match=r"'events_src'.*its query is refused: it is not valid Spark SQL"),
    ):
        store.apply()


def test_the_timestamp_hint_is_spark_sql_and_its_query_applies(tmp_path: Path, spark_session: Any) -> None:
    seconds = table_of(
        ("driver_id", "ts", "v"), (1, 1_704_106_800, 7), types={"driver_id": pa.int64(), "ts": pa.int64()}
    )
    defs = """
driver = Entity(name="driver", join_keys=["driver_id"])
events = FeatureView(
    name="events", entities=[driver], ttl=None,
    source=FileSource(name="events_src", path="data/events.parquet", timestamp_field="ts"),
    features=[Feature("v", "int64")],
)
"""
    with (
        spark_store(tmp_path, defs, {"data/events.parquet": seconds}) as store,
        pytest.raises(SchemaMismatchError) as caught,
    ):
        store.apply()
    message = str(caught.value)
    hint = (
        "SELECT <other columns>, timestamp_seconds(ts) AS ts FROM parquet.`<repo root>/data/events.parquet`"
    )
    assert hint in message
    assert 'dialect="spark"' in message
    assert "timestamp_millis(ts) for milliseconds" in message
    # The hint, its placeholders filled in, is a Spark SQL source that applies and reads 2024-01-01 11:00.
    query = hint.replace("<other columns>", "driver_id, v").replace("<repo root>", tmp_path.as_posix())
    write_definitions(tmp_path, sql_view(query).replace("ttl=timedelta(hours=1)", "ttl=None"))
    with FeatureStore(tmp_path) as store:
        store.apply()
        assert store.registry.view("events").source_schema["ts"] == "timestamp[us, tz=UTC]"
        entity = table_of(("driver_id", "event_timestamp"), (1, T - HOUR), (1, T - HOUR - MIN), types=TYPES)
        assert rows(store.get_training_set(entity, ["events:v"]).to_arrow(), "v") == [(7,), (None,)]
