"""The Feast 0.67 side of the online benchmark, run with the Feast virtualenv's interpreter.

    benchmarks/.feast-venv/bin/python -P benchmarks/online_feast_worker.py JOB.json

Builds a Feast repo (Redis online store on the benchmark's Redis, DuckDB or file offline store) over
the same Parquet files, applies the same entity and views, then: ``FLUSHALL`` + timed
``materialize(start, end)`` per repetition; the values of a sample of drivers; and the latency of
``get_online_features(...).to_dict()`` for the same requests featurestore gets. Prints one
``RESULT {json}`` line. Imports only Feast, redis-py and the standard library, never featurestore.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

# Run with -P: benchmarks/ goes at the end of the path, so its scripts cannot shadow standard modules.
sys.path.append(str(Path(__file__).resolve().parent))

from online_spec import CREATED, ENTITY, FEATURES, KEY, REFS, RESULT_PREFIX, TIMESTAMP, VIEWS, percentiles_ms

CONFIG = """project: {project}
provider: local
registry: {repo}/registry.db
online_store:
  type: redis
  connection_string: "127.0.0.1:{port}"
offline_store:
  type: {offline}
entity_key_serialization_version: 3
"""


def build_store(job: dict[str, Any]) -> Any:
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64, String

    repo = Path(job["repo"])
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(
        CONFIG.format(project="feastbench", repo=repo, port=job["redis_port"], offline=job["offline"])
    )
    dtypes = {"float64": Float64, "int64": Int64, "string": String}
    driver = Entity(name=ENTITY, join_keys=[KEY], value_type=ValueType.INT64)
    objects: list[Any] = [driver]
    for view in VIEWS:
        source = FileSource(
            name=view.name,
            path=job["paths"][view.name],
            timestamp_field=TIMESTAMP,
            created_timestamp_column=CREATED,
        )
        objects += [
            source,
            FeatureView(
                name=view.name,
                entities=[driver],
                ttl=timedelta(days=view.ttl_days),
                schema=[Field(name=n, dtype=dtypes[d]) for n, d in view.features],
                source=source,
                online=True,
            ),
        ]
    store = FeatureStore(repo_path=str(repo))
    store.apply(objects)
    return store


def latency(store: Any, requests: list[list[dict[str, int]]], calls: int, warmup: int) -> dict[str, float]:
    for i in range(warmup):
        store.get_online_features(features=REFS, entity_rows=requests[i % len(requests)]).to_dict()
    samples: list[int] = []
    clock = time.perf_counter_ns
    cpu_start = time.thread_time_ns()
    for i in range(calls):
        rows = requests[i % len(requests)]
        began = clock()
        store.get_online_features(features=REFS, entity_rows=rows).to_dict()
        samples.append(clock() - began)
    result = percentiles_ms(samples)
    result["cpu_us"] = (time.thread_time_ns() - cpu_start) / calls / 1000
    return result


def main() -> None:
    import redis

    job = json.loads(Path(sys.argv[1]).read_text())
    import resource

    out: dict[str, Any] = {"materialize_s": [], "client_cpu_s": [], "redis_cpu_s": [], "latency": {}}

    def own_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def server_cpu() -> float:
        info = client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    client = redis.Redis(host="127.0.0.1", port=job["redis_port"])
    store = build_store(job)
    start = datetime.fromisoformat(job["start"])
    end = datetime.fromisoformat(job["end"])
    for rep in range(job["repeat"]):
        client.flushall()
        cpu_start, redis_start = own_cpu(), server_cpu()
        began = time.perf_counter()
        store.materialize(start_date=start, end_date=end)
        out["materialize_s"].append(time.perf_counter() - began)
        out["client_cpu_s"].append(own_cpu() - cpu_start)
        out["redis_cpu_s"].append(server_cpu() - redis_start)
        print(f"feast materialize {rep + 1}/{job['repeat']}: {out['materialize_s'][-1]:.2f} s", flush=True)
    out["keys"] = client.dbsize()

    sample = job["sample"]
    answer = store.get_online_features(features=REFS, entity_rows=[{KEY: i} for i in sample]).to_dict()
    out["sample"] = {str(i): [answer[f][j] for f in FEATURES] for j, i in enumerate(sample)}

    gc.collect()
    gc.freeze()  # the request lists are setup, not serving state: keep them out of the collector's scans
    for size, requests in job["requests"].items():
        rows = [[{KEY: i} for i in ids] for ids in requests]
        out["latency"][size] = latency(store, rows, job["calls"], job["warmup"])
        print(f"feast {size} entities: p50 {out['latency'][size]['p50']:.3f} ms", flush=True)
    import feast

    out["version"] = feast.__version__
    print(RESULT_PREFIX + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
