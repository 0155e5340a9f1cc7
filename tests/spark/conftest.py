"""One local Spark session (``local[2]``, 4 shuffle partitions, no UI) for every Spark test, and the
helpers that run a DuckDB-planned request on Spark.

Without Java or pyspark the Spark tests are skipped locally, but fail when ``CI`` is set (as the Redis
tests do without redis-server: ``tests/online/conftest.py``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from featurestore import FeatureStore
from featurestore.config import SparkConfig
from featurestore.engines.spark import SparkEngine, quiet
from featurestore.plan import TrainingSetPlan
from featurestore.retrieve.entity_rows import prepare, to_arrow_table
from featurestore.retrieve.training import TrainingSet
from featurestore.sql import spark as spark_sql

pytestmark = pytest.mark.spark


def require_spark() -> None:
    missing = [
        what
        for what, present in (
            ("Java (java)", shutil.which("java") is not None),
            ("pyspark", importlib.util.find_spec("pyspark") is not None),
        )
        if not present
    ]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{' and '.join(missing)} missing, but CI is set: the Spark tests must run")
        pytest.skip(
            f"{' and '.join(missing)} not installed "
            "(apt-get install openjdk-17-jre-headless; pip install pyspark)"
        )


@pytest.fixture(scope="session")
def spark_session() -> Iterator[Any]:
    require_spark()
    with quiet():
        from pyspark.sql import SparkSession

        session = (
            SparkSession.builder.master("local[2]")
            .appName("featurestore-tests")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.default.parallelism", "2")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            # Python workers (materialization's partition writers) run this interpreter, as the engine's.
            .config("spark.pyspark.python", sys.executable)
            # Tiny tables: compiling whole-stage code costs more than it saves.
            .config("spark.sql.codegen.wholeStage", "false")
            .getOrCreate()
        )
    session.sparkContext.setLogLevel("OFF")
    session.sparkContext.pythonExec = os.environ.get("PYSPARK_PYTHON", sys.executable)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark(spark_session: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkEngine]:
    """The engine over the shared session (it does not own it: closing it stops nothing)."""
    engine = SparkEngine(SparkConfig(engine="spark", master="local[2]"), tmp_path_factory.mktemp("spark"))
    yield engine
    engine.close()


def run_on_spark(engine: SparkEngine, plan: TrainingSetPlan, entity: pa.Table) -> pa.Table:
    """The feature columns of ``plan`` (planned as for DuckDB) rendered for and run on Spark."""
    keys = list(dict.fromkeys(k for join in plan.joins for k in join.keys))
    prepared = prepare(entity, plan.entity.timestamp_column, keys)
    engine.register(plan.entity.table, prepared.keys)
    try:
        return engine.to_arrow(spark_sql.render_training_set(plan))
    finally:
        engine.unregister(plan.entity.table)


class SparkTrainingSet:
    """A training set planned by the store, its rows computed on Spark; ``to_arrow`` also checks them
    against DuckDB's, column by column (type and values)."""

    def __init__(self, engine: SparkEngine, training: TrainingSet, entity: pa.Table) -> None:
        self.engine, self.training, self.entity, self.plan = engine, training, entity, training.plan

    def to_arrow(self) -> pa.Table:
        duckdb = self.training.to_arrow()
        features = run_on_spark(self.engine, self.plan, self.entity)
        names = list(self.plan.column_order)
        assert features.column_names == names
        for name in names:
            assert features.column(name).type == duckdb.column(name).type, name
            assert features.column(name).to_pylist() == duckdb.column(name).to_pylist(), name
        base = duckdb.drop_columns(names)
        return pa.Table.from_arrays(
            [*base.columns, *features.columns], names=[*base.column_names, *features.column_names]
        )


class SparkStore:
    """A store whose training sets run on Spark (planned by the store, rendered by ``sql/spark.py``):
    the hand-checked point-in-time tests run unchanged over it."""

    def __init__(self, store: FeatureStore, engine: SparkEngine) -> None:
        self.store, self.engine = store, engine

    def get_training_set(self, entity_df: Any, features: Any, **options: Any) -> SparkTrainingSet:
        training = self.store.get_training_set(entity_df, features, **options)
        return SparkTrainingSet(self.engine, training, to_arrow_table(entity_df, self.engine))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)
