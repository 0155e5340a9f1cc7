"""An aggregation view materialized with ``[offline] engine = "spark"`` (local master) into SQLite, twice:
a full run, then an incremental one with new events and late ones (stamped before the first run's end,
created after it). After each, the online values equal those of the same runs on DuckDB, entity by
entity and feature by feature (floats within a relative 1e-9), as does the store's training set on
Spark at the first run's end, and the lifetime partial states written
by Spark are read back by the next Spark run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from featurestore.engines.spark import SparkEngine
from featurestore.registry.partials import PartialStore
from tests.pit_repo import make_repo
from tests.spark.test_aggregations import same
from tests.test_aggregations_online import DAY, HOUR, T1, events

pytestmark = pytest.mark.spark

DEFS = """
from featurestore import Aggregation
H, D = timedelta(hours=1), timedelta(days=1)
customer = Entity(name="customer", join_keys=["customer_id"])
pay = FeatureView(
    name="pay", entities=[customer],
    source=FileSource(name="pay_src", path="data/pay", timestamp_field="ts",
                      created_timestamp_field="created"),
    aggregations=[
        Aggregation("amount", "count", H), Aggregation("amount", "sum", H), Aggregation("amount", "last", H),
        Aggregation("amount", "max", D), Aggregation("amount", "mean", D), Aggregation("amount", "stddev", D),
        Aggregation("merchant", "count_distinct", D),
        Aggregation("amount", "count", None), Aggregation("amount", "sum", None),
        Aggregation("amount", "mean", None), Aggregation("amount", "min", None),
        Aggregation("amount", "stddev", None), Aggregation("amount", "last", None),
        Aggregation("merchant", "count_distinct", None), Aggregation("merchant", "last", None),
    ],
)
"""
SPARK_TOML = (
    '[offline]\nengine = "spark"\nmaster = "local[2]"\nconf = { "spark.sql.shuffle.partitions" = "4" }\n'
)
KEYS = [*range(1, 13), 999]  # every customer of ``events``, and one without events


def _repo(root: Path, toml: str | None) -> FeatureStore:
    (root / "data" / "pay").mkdir(parents=True)
    pq.write_table(events(1, 300, T1 - 3 * DAY, T1), root / "data" / "pay" / "0.parquet")
    if toml is not None:
        (root / "featurestore.toml").write_text(toml)
    return make_repo(root, DEFS)


@pytest.fixture
def stores(tmp_path: Path, spark: SparkEngine) -> Iterator[tuple[FeatureStore, FeatureStore]]:
    with _repo(tmp_path / "duckdb", None) as duckdb, _repo(tmp_path / "spark", SPARK_TOML) as spark_store:
        assert spark_store.engine.capabilities.dialect == "spark"
        yield duckdb, spark_store


def online(store: FeatureStore, at: datetime) -> dict[str, list[Any]]:
    return store.get_online_features(["pay:*"], {"customer_id": KEYS}, now=at).to_dict()


def assert_same_online(duckdb: FeatureStore, spark: FeatureStore, at: datetime) -> None:
    want, got = online(duckdb, at), online(spark, at)
    assert set(got) == set(want)
    bad = [(k, f, got[f][i], want[f][i]) for f in want for i, k in enumerate(KEYS)
           if not same(got[f][i], want[f][i])]  # fmt: skip
    assert not bad, f"(key, feature, spark, duckdb) at {at}: {bad[:10]}"


def test_full_then_incremental_with_late_rows_equal_duckdb(
    stores: tuple[FeatureStore, FeatureStore],
) -> None:
    duckdb, spark = stores
    for store in stores:
        store.materialize(end=T1)
    assert_same_online(duckdb, spark, T1)
    assert online(spark, T1)["amount_count_lifetime"][0] > 0
    # The store's own training set on Spark (through its renderer) agrees with DuckDB's too.
    rows = pa.table({"customer_id": KEYS, "event_timestamp": pa.array([T1] * len(KEYS), pa.timestamp("us"))})
    want, got = (store.get_training_set(rows, ["pay:*"]).to_pylist_rows() for store in stores)
    bad = [(i, f) for i, row in enumerate(want) for f in row if not same(got[i][f], row[f])]
    assert not bad, bad[:10]

    t2 = T1 + 3 * HOUR
    for store in stores:
        pq.write_table(events(2, 80, T1, t2), store.root / "data" / "pay" / "1.parquet")
        late = events(3, 12, T1 - HOUR / 2, T1, created_delay=4 * HOUR)
        pq.write_table(late, store.root / "data" / "pay" / "late.parquet")
    runs = [store.materialize_incremental(end=t2).runs[0] for store in stores]
    assert runs[1].entities_written == runs[0].entities_written > 0
    assert runs[1].rows_read == runs[0].rows_read
    assert_same_online(duckdb, spark, t2)
    partials = PartialStore(spark.root).current("pay", spark.registry.view("pay").data_fingerprint)
    assert partials is not None
    assert partials.as_of == t2
