"""One measured featurestore run on Spark or DuckDB, in its own process (so its peaks are its own).

    python benchmarks/spark_worker.py '{"engine": "spark", "task": "training", "data": "...", ...}'

Tasks: ``training`` (the training-set job of ``tsbench/``, written with ``to_parquet``), ``aggregation``
(the windowed-aggregation job of ``aggbench/``, written with ``to_parquet``), ``materialize`` (latest
values of both training-set views into the embedded online store). Setup (the repo, ``apply``, and on
Spark the session's start) is not timed. Prints ``RESULT {json}``; a task the engine refuses prints
``RESULT {"unavailable": "<why>"}``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR / "tsbench"), str(BENCH_DIR / "aggbench")]

from spark_process import MASTER, RESULT_PREFIX, SPARK_CONF, Meter, jvm_pid, report  # noqa: E402

DUCKDB_MEMORY = "4GB"
MATERIALIZE_END = datetime(2024, 4, 1, tzinfo=UTC)  # after the last event of the generated data


def config_toml(engine: str) -> str:
    """``featurestore.toml`` for ``engine``: Spark on ``local[2]`` with the shared conf, or DuckDB.

    >>> print(config_toml("duckdb"))
    [offline]
    memory_limit = "4GB"
    <BLANKLINE>
    """
    if engine == "duckdb":
        return f'[offline]\nmemory_limit = "{DUCKDB_MEMORY}"\n'
    conf = ", ".join(f'"{k}" = "{v}"' for k, v in SPARK_CONF.items() if k != "spark.master")
    return f'[offline]\nengine = "spark"\nmaster = "{MASTER}"\nconf = {{ {conf} }}\n'


def _store(repo: Path, engine: str) -> Any:
    from featurestore import FeatureStore

    (repo / "featurestore.toml").write_text(config_toml(engine))
    store = FeatureStore(str(repo))
    store.apply()
    return store


def _warm(store: Any) -> int | None:
    """Start the engine (on Spark: the JVM, 10-25 s) before the clock starts; the JVM's pid if any."""
    engine = store.engine
    session = getattr(engine, "session", None)
    if session is None:
        return None
    session.sql("SELECT 1").collect()
    return jvm_pid(session)


def _written(path: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    return {"rows": pq.ParquetFile(path).metadata.num_rows, "result_mb": path.stat().st_size / 2**20}


def training(job: dict[str, Any], repo: Path) -> tuple[Any, Callable[[], dict[str, Any]]]:
    from ts_ours import write_repo
    from ts_spec import ALL_REFS, DataPaths

    paths = DataPaths(job["data"])
    write_repo(repo, paths)
    store = _store(repo, job["engine"])
    entities = job.get("entities") or paths.entities
    result = Path(job["result"])

    def run() -> dict[str, Any]:
        store.get_training_set(entities, features=ALL_REFS).to_parquet(result)
        return _written(result)

    return store, run


def aggregation(job: dict[str, Any], repo: Path) -> tuple[Any, Callable[[], dict[str, Any]]]:
    from agg_worker import COLUMNS, FUNCTIONS, WINDOWS

    data = Path(job["data"])
    (repo / "definitions").mkdir(parents=True, exist_ok=True)
    aggs = "".join(
        f"        Aggregation('amount', {f!r}, timedelta(seconds={s})),\n"
        for s in WINDOWS.values()
        for f in FUNCTIONS
    )
    (repo / "definitions" / "bench.py").write_text(
        "from datetime import timedelta\n"
        "from featurestore import Aggregation, Entity, FeatureView, FileSource\n"
        "customer = Entity(name='customer', join_keys=['customer_id'])\n"
        "payments = FeatureView(\n"
        "    name='payments', entities=[customer],\n"
        f"    source=FileSource(name='events', path='{data / 'events.parquet'}'),\n"
        f"    aggregations=[\n{aggs}    ],\n"
        ")\n"
    )
    store = _store(repo, job["engine"])
    refs = [f"payments:{c}" for c in COLUMNS]
    entities = str(data / "entities.parquet")
    result = Path(job["result"])

    def run() -> dict[str, Any]:
        store.get_training_set(entities, refs).to_parquet(result)
        return _written(result)

    return store, run


def materialize(job: dict[str, Any], repo: Path) -> tuple[Any, Callable[[], dict[str, Any]]]:
    import re

    from ts_ours import definitions_source
    from ts_spec import DataPaths

    # The generated events are from 2024: with the views' ttls of 7 and 30 days, the wall clock would
    # expire every latest value and nothing would be written. Here the ttl is 100 years.
    text = re.sub(
        r"ttl=timedelta\(days=\d+\)", "ttl=timedelta(days=36500)", definitions_source(DataPaths(job["data"]))
    )
    (repo / "definitions").mkdir(parents=True, exist_ok=True)
    (repo / "definitions" / "bench.py").write_text(text)
    store = _store(repo, job["engine"])

    def run() -> dict[str, Any]:
        summary = store.materialize(end=MATERIALIZE_END)
        return {"rows": summary.entities_written, "rows_read": summary.rows_read}

    return store, run


TASKS = {"training": training, "aggregation": aggregation, "materialize": materialize}


def main(argv: list[str]) -> None:
    from featurestore.errors import FeatureStoreError

    job = json.loads(argv[1])
    repo = Path(job["scratch"]) / "repo"
    try:
        store, run = TASKS[job["task"]](job, repo)
        meter = Meter(_warm(store))
        times = []
        for _ in range(job.get("calls", 1)):  # the first call in a fresh process, then warm ones
            cpu_start, start = meter.cpu_seconds(), time.perf_counter()
            figures = run()
            times.append((time.perf_counter() - start, meter.cpu_seconds() - cpu_start))
    except FeatureStoreError as exc:
        if job["task"] != "aggregation":  # the one job an engine may refuse (windowed aggregations)
            raise
        print(RESULT_PREFIX + json.dumps({"unavailable": str(exc).splitlines()[0]}), flush=True)
        return
    (seconds, cpu), (warm_seconds, warm_cpu) = times[0], times[-1]
    report(meter, seconds, cpu, warm_seconds=warm_seconds, warm_cpu_seconds=warm_cpu, **figures)


if __name__ == "__main__":
    main(sys.argv)
