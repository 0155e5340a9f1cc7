"""The engine contract: every engine in ``ENGINE_FACTORIES`` passes the same body.

To add an engine: append one ``pytest.param(factory, id=...)`` to ``ENGINE_FACTORIES`` (a factory
``(request, root) -> Engine`` that skips when the engine cannot run here, e.g. Spark without Java).
The SQL below is plain enough for any dialect; what an engine does with its own dialect is tested
by its golden files.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore.config import DuckDBConfig, SparkConfig
from featurestore.engines import Engine, open_engine
from featurestore.errors import SourceError
from featurestore.sql import renderer_for
from tests.spark.conftest import spark_session  # noqa: F401  (the session fixture, here by name)


def duckdb_engine(request: pytest.FixtureRequest, root: Path) -> Engine:
    return open_engine(DuckDBConfig(memory_limit="512MB", threads=1), root)


def spark_engine(request: pytest.FixtureRequest, root: Path) -> Engine:
    """The Spark engine over the test run's one local session (``tests/spark/conftest.py``: skipped
    without Java or pyspark, failing under ``CI``); closing the engine leaves that session running."""
    request.getfixturevalue("spark_session")
    return open_engine(SparkConfig(engine="spark", master="local[2]"), root)


ENGINE_FACTORIES: list[object] = [
    pytest.param(duckdb_engine, id="duckdb"),
    pytest.param(spark_engine, id="spark", marks=pytest.mark.spark),
]

# Engine type names some engines report from ``schema_of`` (strings) -> the Arrow type they stand for.
_TYPE_NAMES = {
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "VARCHAR": pa.string(),
    "BOOLEAN": pa.bool_(),
}


def arrow_type(engine_type: object) -> pa.DataType:
    """``schema_of`` gives Arrow types, or (older engines) type names: either way, the Arrow type."""
    if isinstance(engine_type, pa.DataType):
        return engine_type
    return _TYPE_NAMES[str(engine_type).upper()]


@pytest.fixture(params=ENGINE_FACTORIES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    factory: Callable[[pytest.FixtureRequest, Path], Engine] = request.param
    opened = factory(request, tmp_path)
    try:
        yield opened
    finally:
        opened.close()


# Hand-checked: four rows, every type the contract needs, one null.
ROWS = pa.table(
    {
        "id": pa.array([3, 1, 4, 2], pa.int64()),
        "name": pa.array(["c", "a", None, "b"], pa.string()),
        "score": pa.array([0.5, 1.25, -2.0, 3.0], pa.float64()),
        "ok": pa.array([True, False, True, False], pa.bool_()),
    }
)


def test_a_registered_arrow_table_is_queried_with_its_types(engine: Engine) -> None:
    engine.register("contract_rows", ROWS)
    result = engine.to_arrow("SELECT id, name, score, ok FROM contract_rows ORDER BY id")
    assert result.schema.types == [pa.int64(), pa.string(), pa.float64(), pa.bool_()]
    assert result.to_pydict() == {
        "id": [1, 2, 3, 4],
        "name": ["a", "b", "c", None],
        "score": [1.25, 3.0, 0.5, -2.0],
        "ok": [False, False, True, True],
    }


def test_batches_arrive_in_order_by_order(engine: Engine) -> None:
    ids = list(range(10_000))
    random.Random(5).shuffle(ids)
    engine.register("contract_many", pa.table({"id": pa.array(ids, pa.int64())}))
    batches = list(engine.batches("SELECT id FROM contract_many ORDER BY id DESC", 1000))
    assert len(batches) > 1
    assert all(b.num_rows <= 1000 for b in batches)
    got = [v for b in batches for v in b.column(0).to_pylist()]
    assert got == list(range(9_999, -1, -1))


def test_to_parquet_round_trips(engine: Engine, tmp_path: Path) -> None:
    engine.register("contract_rows", ROWS)
    target = tmp_path / "out.parquet"
    engine.to_parquet("SELECT id, name, score, ok FROM contract_rows ORDER BY id", target)
    back = pq.read_table(target)
    assert back.column_names == ["id", "name", "score", "ok"]
    assert back.schema.types == [pa.int64(), pa.string(), pa.float64(), pa.bool_()]
    assert back.to_pydict() == engine.to_arrow("SELECT * FROM contract_rows ORDER BY id").to_pydict()
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]  # no temporary file left behind


def test_schema_of_a_query_without_running_it(engine: Engine) -> None:
    engine.register("contract_rows", ROWS)
    schema = engine.schema_of("SELECT id, name, score * 2 AS doubled, ok FROM contract_rows")
    assert {k: arrow_type(v) for k, v in schema.items()} == {
        "id": pa.int64(),
        "name": pa.string(),
        "doubled": pa.float64(),
        "ok": pa.bool_(),
    }
    assert list(schema) == ["id", "name", "doubled", "ok"]


def test_an_unregistered_table_is_gone(engine: Engine) -> None:
    engine.register("contract_rows", ROWS)
    assert engine.to_arrow("SELECT COUNT(*) AS n FROM contract_rows").column(0).to_pylist() == [4]
    engine.unregister("contract_rows")
    with pytest.raises(SourceError):
        engine.to_arrow("SELECT COUNT(*) AS n FROM contract_rows")
    engine.unregister("contract_rows")  # unregistering twice is harmless


def test_a_renderer_exists_for_the_engine(engine: Engine) -> None:
    renderer = renderer_for(engine.capabilities)
    assert renderer.dialect == engine.capabilities.dialect
