"""Materialization written from the Spark executors into Redis and Redis Cluster: the same online values
as a DuckDB run through the driver, key by key; incremental runs; a failed partition fails the run with the
old watermark; reruns and older runs never break newer-wins; the embedded SQLite store refused with a
cluster master (before the session is touched) and written through the driver with a local one."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from featurestore.config import SparkConfig
from featurestore.engines.spark import SparkEngine
from featurestore.errors import ConfigError, MaterializationError, OnlineStoreError
from featurestore.materialize import Materializer, wall_clock_us
from featurestore.materialize.executors import COUNTS, PartitionWriter
from featurestore.online import OnlineView
from featurestore.online.base import SinkSpec
from featurestore.online.redis import RedisSettings, RedisSink
from featurestore.registry.state import Watermark
from featurestore.versions import record_view
from tests.online import conftest as online_conftest
from tests.online.conftest import RedisClusterNodes, RedisServer, free_port
from tests.pit_repo import naive, table_of, write_data, write_definitions

# The real Redis server and 3-node cluster of the online-store tests.
redis_server = online_conftest.redis_server
redis_cluster = online_conftest.redis_cluster

pytestmark = [pytest.mark.spark, pytest.mark.redis]

DEFINITIONS = """
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FileSource(
    name="stats", path="data/stats.parquet", timestamp_field="ts", created_timestamp_field="created"
)
driver_stats = FeatureView(
    name="driver_stats", entities=[driver], source=stats, ttl=None,
    features=[Feature("rate", "float64"), Feature("trips", "int64"), Feature("city", "string")],
)
"""
TYPES = {"driver_id": pa.int64(), "trips": pa.int64()}
HEADER = ("driver_id", "ts", "created", "rate", "trips", "city")
FEATURES = ["driver_stats:rate", "driver_stats:trips", "driver_stats:city"]


def _rows(day: int, drivers: Iterable[int]) -> pa.Table:
    """One row per driver on ``day`` of January 2024, values derived from (driver, day) by hand rules:
    rate = driver / 100 + day, trips = driver * day, city by parity; driver 7's rate is null."""
    body = [
        (d, naive(2024, 1, day, d % 24), naive(2024, 1, day, 23), None if d == 7 else d / 100 + day,
         d * day, "paris" if d % 2 else "oslo")
        for d in drivers
    ]  # fmt: skip
    return table_of(HEADER, *body, types=TYPES)


def _repo(root: Path, project: str, online: str, offline: str) -> FeatureStore:
    root.mkdir(parents=True, exist_ok=True)
    write_definitions(root, DEFINITIONS)
    write_data(root, "data/stats.parquet", pa.concat_tables([_rows(1, range(1, 41)), _rows(2, range(1, 21))]))
    (root / "featurestore.toml").write_text(f'project = "{project}"\n\n{offline}\n\n{online}\n')
    store = FeatureStore(root)
    store.apply()
    return store


def _append(store: FeatureStore, rows: pa.Table) -> None:
    path = store.root / "data/stats.parquet"
    pq.write_table(pa.concat_tables([pq.read_table(path), rows.cast(pq.read_schema(path))]), path)


SPARK = '[offline]\nengine = "spark"\nmaster = "local[2]"'


def _online(kind: str, url: str) -> str:
    return f'[online]\ntype = "{kind}"\nurl = "{url}"'


@pytest.fixture(params=["redis", "redis_cluster"])
def redis_url(request: pytest.FixtureRequest) -> tuple[str, str]:
    server: RedisServer | RedisClusterNodes = request.getfixturevalue(
        "redis_server" if request.param == "redis" else "redis_cluster"
    )
    return request.param, server.url


@pytest.fixture
def twins(
    tmp_path: Path, redis_url: tuple[str, str], spark: SparkEngine, request: pytest.FixtureRequest
) -> Iterator[tuple[FeatureStore, FeatureStore]]:
    """The same repo twice: on Spark (written from the executors) and on DuckDB (through the driver),
    each its own project in the same Redis."""
    kind, url = redis_url
    suffix = str(abs(hash(request.node.nodeid)) % 10**8)
    on_spark = _repo(tmp_path / "spark", f"sx{suffix}", _online(kind, url), SPARK)
    on_duckdb = _repo(tmp_path / "duckdb", f"dx{suffix}", _online(kind, url), "")
    yield on_spark, on_duckdb
    on_spark.close()
    on_duckdb.close()


def _online_values(store: FeatureStore, drivers: list[int]) -> dict[str, list[Any]]:
    """Every feature's online values for ``drivers``, and the status of ``rate``."""
    response = store.get_online_features(FEATURES, [{"driver_id": d} for d in drivers])
    return {**response.to_dict(), "status": response.statuses()["rate"]}


ALL = list(range(1, 46))


def _same_online(on_spark: FeatureStore, on_duckdb: FeatureStore) -> dict[str, list[Any]]:
    spark_values, duckdb_values = _online_values(on_spark, ALL), _online_values(on_duckdb, ALL)
    for name in duckdb_values:
        assert spark_values[name] == duckdb_values[name], name
    return spark_values


def test_executors_write_what_the_driver_writes_then_incremental_runs_follow(
    twins: tuple[FeatureStore, FeatureStore],
) -> None:
    on_spark, on_duckdb = twins
    first = [s.materialize(end=naive(2024, 1, 3)) for s in (on_spark, on_duckdb)]
    assert first[0].entities_written == first[1].entities_written == 40
    assert first[0].rows_read == first[1].rows_read == 60
    values = _same_online(on_spark, on_duckdb)
    # Hand-checked: drivers 1-20 have a day-2 row, 21-40 only a day-1 row, 41-45 none.
    assert values["trips"][:3] == [2, 4, 6]
    assert values["trips"][20] == 21
    assert values["rate"][2] == pytest.approx(2.03)
    assert values["rate"][6] is None
    assert values["city"][:2] == ["paris", "oslo"]
    assert values["status"][39:] == ["PRESENT"] + ["NOT_FOUND"] * 5
    # Statistics: each partition profiles its rows in its executor, merged on the driver, equal to
    # the driver's one-pass profile (exact moments; sketches within their bounds).
    merged, single = on_spark.stats("driver_stats"), on_duckdb.stats("driver_stats")
    assert merged.rows == single.rows == 40
    for name in ("trips", "rate", "city"):
        a, b = merged[name], single[name]
        assert (a.count, a.nulls, a.minimum, a.maximum) == (b.count, b.nulls, b.minimum, b.maximum)
        assert a.mean == pytest.approx(b.mean)
        assert a.stddev == pytest.approx(b.stddev)
    assert merged["city"].top_values() == single["city"].top_values()
    assert merged["trips"].quantiles((0.0, 0.5, 1.0)) == single["trips"].quantiles((0.0, 0.5, 1.0))

    for store in (on_spark, on_duckdb):  # day 3 for drivers 15-44 (41-44 are new)
        _append(store, _rows(3, range(15, 45)))
    second = [s.materialize_incremental(end=naive(2024, 1, 4)) for s in (on_spark, on_duckdb)]
    assert second[0].entities_written == second[1].entities_written == 30
    values = _same_online(on_spark, on_duckdb)
    assert values["trips"][13:16] == [28, 45, 48]
    assert values["trips"][43:] == [132, None]
    mark = on_spark.state.active("driver_stats")
    assert mark is not None
    assert mark.watermark is not None
    assert mark.watermark.event_time == naive(2024, 1, 4)


def test_a_failed_partition_fails_the_run_and_keeps_the_old_watermark(
    tmp_path: Path, redis_server: RedisServer, spark: SparkEngine
) -> None:
    store = _repo(tmp_path / "r", "sxfail", _online("redis", redis_server.url), SPARK)
    store.materialize(end=naive(2024, 1, 3))
    _append(store, _rows(3, range(1, 41)))

    class FailsAtDriver13:
        """The real store, failing in the partition holding driver 13, after that batch was written.
        Defined inside the test, so Spark pickles it by value into the executors."""

        def __init__(self, inner: SinkSpec) -> None:
            self.inner = inner

        def open(self) -> Any:
            inner = self.inner.open()

            class Store:
                def write_batches(self, view: OnlineView, batches: Iterable[pa.RecordBatch]) -> Iterator[int]:
                    for batch in batches:
                        yield from inner.write_batches(view, [batch])
                        if 13 in batch.column("driver_id").to_pylist():
                            raise OnlineStoreError("injected: the connection to Redis broke")

                def close(self) -> None:
                    inner.close()

            return Store()

    online = store.online_store
    online.sink_spec = lambda: FailsAtDriver13(RedisSink(online.settings))  # type: ignore[attr-defined]
    with pytest.raises(
        MaterializationError, match="OnlineStoreError: injected: the connection to Redis broke"
    ):
        store.materialize_incremental(end=naive(2024, 1, 4))
    version = store.state.active("driver_stats")
    assert version is not None
    assert isinstance(version.watermark, Watermark)
    assert version.watermark.event_time == naive(2024, 1, 3)
    # Driver 13 was written (newer wins) before the failure; a rerun completes the run.
    assert store.get_online_features(["driver_stats:trips"], [{"driver_id": 13}]).to_dict()["trips"] == [39]
    del online.sink_spec  # type: ignore[attr-defined]
    summary = store.materialize_incremental(end=naive(2024, 1, 4))
    assert summary.entities_written == 40
    assert store.get_online_features(["driver_stats:trips"], [{"driver_id": 40}]).to_dict()["trips"] == [120]
    store.close()


def test_executors_that_cannot_reach_the_store_fail_the_run_naming_it(
    tmp_path: Path, redis_server: RedisServer, spark: SparkEngine
) -> None:
    """The driver reaches Redis, the executors do not (their sink names a dead port)."""
    store = _repo(tmp_path / "r", "sxdead", _online("redis", redis_server.url), SPARK)
    dead = RedisSettings.from_config(f"redis://127.0.0.1:{free_port()}/0", None, 0.5, 1.0)
    store.online_store.sink_spec = lambda: RedisSink(dead)  # type: ignore[method-assign]
    with pytest.raises(MaterializationError, match=r"OnlineStoreError: cannot reach Redis at 127\.0\.0\.1"):
        store.materialize(end=naive(2024, 1, 3))
    (version,) = store.state.versions("driver_stats")
    assert version.watermark is None
    assert store.online_store.read_marker(version.namespace) is None
    store.close()


def test_reruns_rewrite_the_same_values_and_older_runs_never_replace_newer_ones(
    tmp_path: Path, redis_server: RedisServer, spark: SparkEngine
) -> None:
    """What a task Spark retries does: the same partition written again, maybe after newer values."""
    store = _repo(tmp_path / "r", "sxretry", _online("redis", redis_server.url), SPARK)
    first = store.materialize(end=naive(2024, 1, 3))
    before = _online_values(store, ALL)
    again = store.materialize(end=naive(2024, 1, 3))
    assert again.entities_written == first.entities_written == 40  # an equal event time replaces
    assert _online_values(store, ALL) == before

    # An older run (as of day 2 only: day-1 values) after the newer one writes nothing it would regress.
    older = store.materialize(start=naive(2024, 1, 1), end=naive(2024, 1, 2))
    assert older.entities_written == 20  # drivers 21-40: their day-1 row is also their latest
    assert _online_values(store, ALL) == before

    # The same partition writer run twice on the same rows (a retried task) stores the same values.
    target = store.state.active("driver_stats")
    sink = store.online_store.sink_spec()
    assert target is not None
    assert sink is not None
    writer = PartitionWriter(sink, record_view(target), wall_clock_us)
    ts = pa.array([naive(2024, 1, 2, 1)] * 2, pa.timestamp("us", tz="UTC"))
    rows = pa.table(
        {"driver_id": [1, 2], "__event_ts": ts, "rate": [9.0, 9.0], "trips": [9, 9], "city": ["x", "x"]}
    )
    sql = "SELECT * FROM retry_rows"
    spark.register("retry_rows", rows)
    try:
        done = [spark.write_partitions(sql, writer, COUNTS) for _ in range(2)]
    finally:
        spark.unregister("retry_rows")
    # Driver 1's stored day-2 row (01:00) equals this time and is replaced; driver 2's (02:00) is newer.
    assert done[0] == done[1] == {"rows": 2, "written": 1, "expired": 0}
    after = _online_values(store, [1, 2])
    assert after["trips"] == [9, 4]
    assert after["city"] == ["x", "oslo"]
    store.close()


def test_sqlite_with_a_cluster_master_is_refused_before_the_session_is_touched(tmp_path: Path) -> None:
    store = _repo_without_apply(tmp_path, '[offline]\nengine = "spark"\nmaster = "spark://nowhere:7077"')
    refused = (
        r"sqlite online store cannot be written by Spark executors on master spark://nowhere:7077.*"
        r"type = \"redis\".*master = \"local\[\*\]\""
    )
    with pytest.raises(ConfigError, match=refused):
        store.materialize(end=naive(2024, 1, 3))
    assert store._engine is None  # no session was asked for


def test_sqlite_with_engine_workers_elsewhere_is_refused_by_the_run_loop(
    tmp_path: Path, spark: SparkEngine
) -> None:
    store = _repo(tmp_path / "r", "sxsqlite", "", SPARK)
    # A running session is reused whatever the master says: the capabilities follow the config.
    elsewhere = SparkEngine(SparkConfig(engine="spark", master="spark://nowhere:7077"), tmp_path)
    assert not elsewhere.capabilities.runs_on_this_host
    assert spark.capabilities.runs_on_this_host
    with pytest.raises(ConfigError, match="sqlite online store cannot be written by Spark executors"):
        Materializer(
            store.registry, elsewhere, store.online_store, store.state, store.root,
            settings=store.config.materialize, clock=wall_clock_us,
        )  # fmt: skip
    store.close()


def test_sqlite_with_a_local_master_is_written_through_the_driver(tmp_path: Path, spark: SparkEngine) -> None:
    on_spark = _repo(tmp_path / "spark", "sxlocal", "", SPARK)
    on_duckdb = _repo(tmp_path / "duckdb", "dxlocal", "", "")
    for store in (on_spark, on_duckdb):
        assert store.materialize(end=naive(2024, 1, 3)).entities_written == 40
    _same_online(on_spark, on_duckdb)
    on_spark.close()
    on_duckdb.close()


def _repo_without_apply(tmp_path: Path, offline: str) -> FeatureStore:
    """A repo applied with DuckDB, then configured with ``offline``: no Spark session is asked for."""
    _repo(tmp_path, "sxnone", "", "").close()
    (tmp_path / "featurestore.toml").write_text(f'project = "sxnone"\n\n{offline}\n')
    return FeatureStore(tmp_path)
