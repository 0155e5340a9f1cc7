"""One measured run of Feast's Spark offline store, run with the Feast Spark virtualenv's interpreter.

    benchmarks/.work/venv-feast-spark/bin/python benchmarks/spark_feast_worker.py '{"data": ..., ...}'

The training-set job of ``tsbench/`` on ``SparkSource``s over the same Parquet files, with the same
Spark settings as our Spark engine (``spark_process.SPARK_CONF``: ``local[2]``, 4 GB driver, UTC, Arrow
conversion on). Setup (the repo, ``apply``, the session's start) is not timed; timed: the entity rows
read into pandas with a ``row_id`` column (to match rows), ``get_historical_features`` and the result
written by Spark to Parquet (``to_spark_df().write``), so the driver never collects it, as ours does.
Imports only Feast, pandas, numpy, pyarrow and the standard-library parts, never featurestore.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR / "tsbench")]

from spark_process import SPARK_CONF, Meter, jvm_pid, report  # noqa: E402
from ts_spec import ALL_REFS, CREATED, OUTPUT_COLUMNS, TIMESTAMP, VIEWS, DataPaths, ViewSpec  # noqa: E402

ROW_ID = "row_id"
CONFIG = """project: bench
provider: local
registry: {repo}/registry.db
online_store:
  type: sqlite
  path: {repo}/online.db
offline_store:
  type: spark
  spark_conf:
{conf}
entity_key_serialization_version: 3
"""


def _feast_objects(paths: DataPaths, view: ViewSpec) -> list[Any]:
    from feast import Entity, FeatureView, Field, ValueType
    from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
    from feast.types import Float64, Int64

    dtypes = {"float64": Float64, "int64": Int64}
    entity = Entity(name=view.entity, join_keys=[view.key], value_type=ValueType.INT64)
    source = SparkSource(
        name=view.name,
        path=paths.view(view.name),
        file_format="parquet",
        timestamp_field=TIMESTAMP,
        created_timestamp_column=CREATED,
    )
    feature_view = FeatureView(
        name=view.name,
        entities=[entity],
        ttl=timedelta(days=view.ttl_days),
        schema=[Field(name=name, dtype=dtypes[dtype]) for name, dtype in view.features],
        source=source,
    )
    return [entity, source, feature_view]


def build_store(repo: Path, paths: DataPaths, driver_memory: str | None = None) -> Any:
    """A Feast repo in ``repo`` on the Spark offline store, the benchmark's views applied
    (``driver_memory``: another ``spark.driver.memory`` than the shared settings', for probes by hand)."""
    from feast import FeatureStore

    repo.mkdir(parents=True, exist_ok=True)
    settings = {**SPARK_CONF, "spark.driver.memory": driver_memory or SPARK_CONF["spark.driver.memory"]}
    conf = "\n".join(f'    {key}: "{value}"' for key, value in settings.items())
    (repo / "feature_store.yaml").write_text(CONFIG.format(repo=repo, conf=conf))
    store = FeatureStore(repo_path=str(repo))
    store.apply([obj for view in VIEWS for obj in _feast_objects(paths, view)])
    return store


def main(argv: list[str]) -> None:
    import numpy as np
    import pyarrow.parquet as pq
    from feast.infra.offline_stores.contrib.spark_offline_store.spark import (
        get_spark_session_or_start_new_with_repoconfig,
    )

    job = json.loads(argv[1])
    paths = DataPaths(job["data"])
    store = build_store(Path(job["scratch"]) / "feast_repo", paths, job.get("driver_memory"))
    session = get_spark_session_or_start_new_with_repoconfig(store.config.offline_store)
    session.sql("SELECT 1").collect()  # the JVM starts before the clock
    meter = Meter(jvm_pid(session))
    result = Path(job["result"])
    times = []
    for _ in range(job.get("calls", 1)):  # the first call in a fresh process, then warm ones
        cpu_start, start = meter.cpu_seconds(), time.perf_counter()
        entity_df = pq.read_table(job.get("entities") or paths.entities).to_pandas()
        entity_df[ROW_ID] = np.arange(len(entity_df), dtype=np.int64)
        retrieval = store.get_historical_features(entity_df=entity_df, features=ALL_REFS)
        frame = retrieval.to_spark_df().select(ROW_ID, *OUTPUT_COLUMNS)
        frame.write.mode("overwrite").parquet(str(result))
        times.append((time.perf_counter() - start, meter.cpu_seconds() - cpu_start))
    (seconds, cpu), (warm_seconds, warm_cpu) = times[0], times[-1]
    metadata = [pq.ParquetFile(part).metadata for part in sorted(result.glob("part-*.parquet"))]
    size = sum(part.stat().st_size for part in result.glob("part-*.parquet")) / 2**20
    report(
        meter,
        seconds,
        cpu,
        warm_seconds=warm_seconds,
        warm_cpu_seconds=warm_cpu,
        rows=sum(m.num_rows for m in metadata),
        result_mb=size,
    )


if __name__ == "__main__":
    main(sys.argv)
