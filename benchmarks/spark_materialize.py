"""Spark materialization benchmark: values/s written into Redis from the executors vs through the driver.

    .venv/bin/python benchmarks/spark_materialize.py              # 200k drivers, 1M rows
    .venv/bin/python benchmarks/spark_materialize.py --drivers 20000 --rows-per-driver 3   # smoke run

Starts its own redis-server (``online.py``'s), writes one view (three features, a created column) of
``drivers x rows-per-driver`` rows to Parquet, and materializes the latest value per driver with:

* Spark ``local[2]``, written from the executors (each partition writes itself: ``materialize/executors.py``);
* Spark ``local[2]``, through the driver (the same run with the store's sink spec withheld: results
  staged as Parquet by the executors, streamed to the driver, written there);
* DuckDB through the driver, for reference.

Each run writes into an empty Redis (``FLUSHALL``); the first run of a session pays the JVM start, so a
warm-up run comes first. 500 sampled drivers are read back after every run and checked equal to DuckDB's.
Prints one line per system: seconds, values written, values/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from online import redis_server

DEFINITIONS = """
from datetime import timedelta
from featurestore import Entity, Feature, FeatureView, FileSource

driver = Entity(name="driver", join_keys=["driver_id"])
stats = FileSource(
    name="stats", path="data/stats.parquet", timestamp_field="ts", created_timestamp_field="created"
)
driver_stats = FeatureView(
    name="driver_stats", entities=[driver], source=stats, ttl=timedelta(days=365),
    features=[Feature("conv_rate", "float64"), Feature("trips", "int64"), Feature("city", "string")],
)
"""


def write_data(root: Path, drivers: int, per_driver: int, now: datetime) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(42)
    n = drivers * per_driver
    ids = np.repeat(np.arange(1, drivers + 1, dtype=np.int64), per_driver)
    base = int((now - timedelta(days=10)).timestamp() * 1_000_000)
    ts = base + rng.integers(0, 9 * 86_400_000_000, n)
    cities = np.array(["paris", "oslo", "lima", "pune"])
    table = pa.table(
        {
            "driver_id": ids,
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "created": pa.array(ts + 1_000_000, pa.timestamp("us", tz="UTC")),
            "conv_rate": rng.random(n),
            "trips": rng.integers(0, 1000, n),
            "city": cities[rng.integers(0, 4, n)],
        }
    )
    (root / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / "data/stats.parquet", row_group_size=256 * 1024)
    return n


def make_repo(root: Path, source: Path, project: str, port: int, offline: str) -> Any:
    from featurestore import FeatureStore

    root.mkdir(parents=True)
    (root / "definitions").mkdir()
    (root / "definitions/bench.py").write_text(DEFINITIONS)
    (root / "data").mkdir()
    os.symlink(source / "data/stats.parquet", root / "data/stats.parquet")
    (root / "featurestore.toml").write_text(
        f'project = "{project}"\n\n{offline}\n\n[online]\ntype = "redis"\nurl = "redis://127.0.0.1:{port}/0"\n'
    )
    store = FeatureStore(root)
    store.apply()
    return store


def sample(store: Any, drivers: int) -> dict[str, list[Any]]:
    ids = list(range(1, drivers + 1, max(1, drivers // 500)))
    result: dict[str, list[Any]] = store.get_online_features(
        ["driver_stats:conv_rate", "driver_stats:trips", "driver_stats:city"],
        [{"driver_id": i} for i in ids],
    ).to_dict()
    return result


def run(
    store: Any, raw: Any, end: datetime, drivers: int, *, through_driver: bool = False
) -> tuple[float, int, dict[str, list[Any]]]:
    """One materialization into an empty Redis: seconds, values written, a sample read back."""
    raw.flushall()
    if through_driver:  # withhold the sink spec: the run loop writes through the driver
        store.online_store.sink_spec = lambda: None
    began = time.perf_counter()
    summary = store.materialize(end=end)
    seconds = time.perf_counter() - began
    if through_driver:
        del store.online_store.sink_spec
    return seconds, summary.entities_written, sample(store, drivers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", type=int, default=200_000)
    parser.add_argument("--rows-per-driver", type=int, default=5)
    parser.add_argument("--partitions", type=int, default=4, help="spark.sql.shuffle.partitions")
    args = parser.parse_args()

    import redis

    now = datetime.now(UTC).replace(microsecond=0)
    end = now - timedelta(minutes=1)
    spark = (
        '[offline]\nengine = "spark"\nmaster = "local[2]"\n'
        f'conf = {{ "spark.sql.shuffle.partitions" = "{args.partitions}" }}'
    )
    with tempfile.TemporaryDirectory(prefix="spark-materialize-") as tmp:
        folder = Path(tmp)
        (folder / "redis").mkdir()
        rows = write_data(folder / "source", args.drivers, args.rows_per_driver, now)
        with redis_server(folder / "redis") as port:
            raw = redis.Redis(port=port)
            on_spark = make_repo(folder / "spark", folder / "source", "bench_spark", port, spark)
            on_duckdb = make_repo(folder / "duckdb", folder / "source", "bench_duckdb", port, "")
            shuffle = f"{args.partitions} shuffle partitions"
            print(f"{rows:,} rows, {args.drivers:,} drivers; Spark local[2], {shuffle}")
            run(on_spark, raw, end, args.drivers)  # warm-up: JVM start and first compilation
            results = {
                "spark, from the executors": run(on_spark, raw, end, args.drivers),
                "spark, through the driver": run(on_spark, raw, end, args.drivers, through_driver=True),
                "duckdb, through the driver": run(on_duckdb, raw, end, args.drivers),
            }
            expected = results["duckdb, through the driver"][2]
            for name, (seconds, written, values) in results.items():
                assert written == args.drivers, (name, written)
                assert values == expected, name
                rate = written / seconds
                print(f"{name:<28} {seconds:7.2f} s  {written:>10,} values  {rate:>10,.0f} values/s")
            on_spark.close()
            on_duckdb.close()


if __name__ == "__main__":
    main()
