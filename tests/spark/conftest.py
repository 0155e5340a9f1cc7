"""One local Spark session (``local[2]``, 4 shuffle partitions, no UI) for every Spark test, and the
helpers that build repos with ``[offline] engine = "spark"`` (the engine reuses that session) and
compare their training sets with DuckDB's on the same repo.

Without Java or pyspark the Spark tests are skipped locally, but fail when ``CI`` is set (as the Redis
tests do without redis-server: ``tests/online/conftest.py``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from featurestore import FeatureStore
from featurestore.config import DuckDBConfig, SparkConfig
from featurestore.engines.spark import SparkEngine, quiet
from featurestore.retrieve.training import TrainingSet
from tests.pit_repo import make_repo

pytestmark = pytest.mark.spark

SPARK_TOML = '[offline]\nengine = "spark"\nmaster = "local[2]"\n'


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


def write_spark_config(root: Path, extra: str = "") -> None:
    """``featurestore.toml`` under ``root`` with ``[offline] engine = "spark"`` (a local master: the
    engine reuses the test session), plus ``extra`` TOML."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "featurestore.toml").write_text(SPARK_TOML + extra)


def spark_repo(
    root: Path, definitions: str | Mapping[str, str], data: Any = None, **options: Any
) -> FeatureStore:
    """``make_repo`` with ``[offline] engine = "spark"``: applied and run on Spark."""
    write_spark_config(root)
    return make_repo(root, definitions, data, **options)


def on_duckdb(store: FeatureStore) -> FeatureStore:
    """The same repo (registry, state, online store) with the DuckDB engine."""
    return FeatureStore(store.root, config=store.config.model_copy(update={"offline": DuckDBConfig()}))


def assert_same_tables(spark: pa.Table, duckdb: pa.Table, *, float_tolerance: float = 0.0) -> None:
    """Column by column: names, Arrow types and values (row by row, in order). ``float_tolerance``: the
    relative difference allowed in float columns (Spark sums a window's floats plainly, DuckDB exactly:
    README, "Spark engine")."""
    import math

    assert spark.column_names == duckdb.column_names
    for name in spark.column_names:
        assert spark.column(name).type == duckdb.column(name).type, name
        got, want = spark.column(name).to_pylist(), duckdb.column(name).to_pylist()
        if float_tolerance and pa.types.is_floating(spark.column(name).type):
            assert len(got) == len(want), name
            for i, (a, b) in enumerate(zip(got, want, strict=True)):
                same = a == b or (
                    a is not None and b is not None and math.isclose(a, b, rel_tol=float_tolerance)
                )
                assert same, f"{name} row {i}: spark {a!r}, duckdb {b!r}"
        else:
            assert got == want, name


class ComparedTrainingSet:
    """A training set built by a store on Spark; ``to_arrow`` also builds it on DuckDB and checks that
    both agree, column by column (type and values)."""

    def __init__(self, spark: TrainingSet, duckdb: TrainingSet) -> None:
        self.spark, self.duckdb = spark, duckdb

    def to_arrow(self) -> pa.Table:
        table = self.spark.to_arrow()
        assert_same_tables(table, self.duckdb.to_arrow())
        return table

    def __getattr__(self, name: str) -> Any:
        return getattr(self.spark, name)


class ComparedStore:
    """A real ``FeatureStore`` with ``engine = "spark"``, whose training sets are also built by the same
    repo on DuckDB and compared (``ComparedTrainingSet``); everything else is the Spark store's."""

    def __init__(self, store: FeatureStore, *, duckdb: FeatureStore | None = None) -> None:
        """``duckdb``: the store to compare with (default: the same repo on DuckDB, closed here)."""
        assert store.engine.capabilities.dialect == "spark"
        self.store, self.duckdb = store, duckdb or on_duckdb(store)

    def get_training_set(self, entity_df: Any, features: Any, **options: Any) -> ComparedTrainingSet:
        spark = self.store.get_training_set(entity_df, features, **options)
        return ComparedTrainingSet(spark, self.duckdb.get_training_set(entity_df, features, **options))

    def close(self) -> None:
        self.duckdb.close()
        self.store.close()

    def __enter__(self) -> ComparedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)
