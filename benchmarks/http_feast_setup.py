"""Set up the Feast 0.67 side of the HTTP benchmark (run with the Feast virtualenv's interpreter).

    benchmarks/.feast-venv/bin/python -P benchmarks/http_feast_setup.py '<json job>'

Job: ``{"repo", "data", "redis_port", "views"}``. (``-P`` keeps this folder off the import path, so no
script here can shadow a standard-library module.)

Writes a Feast repo with a Redis online store on the benchmark's Redis, the same two views over the same
Parquet files, applies it and materializes. Imports only Feast, never featurestore.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

CONFIG = """project: httpbench
provider: local
registry: {repo}/registry.db
online_store:
  type: redis
  connection_string: "127.0.0.1:{port}"
offline_store:
  type: file
entity_key_serialization_version: 3
"""


def main() -> None:
    job = json.loads(sys.argv[1])
    repo = Path(job["repo"])
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(CONFIG.format(repo=repo, port=job["redis_port"]))

    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64

    dtypes = {"float64": Float64, "int64": Int64}
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    objects: list[object] = [driver]
    for view in job["views"]:
        source = FileSource(
            name=view["name"],
            path=str(Path(job["data"]) / f"{view['name']}.parquet"),
            timestamp_field="event_timestamp",
            created_timestamp_column="created",
        )
        objects += [
            source,
            FeatureView(
                name=view["name"],
                entities=[driver],
                ttl=timedelta(days=7),
                schema=[Field(name=n, dtype=dtypes[d]) for n, d in view["features"]],
                source=source,
                online=True,
            ),
        ]
    store = FeatureStore(repo_path=str(repo))
    store.apply(objects)
    began = time.perf_counter()
    end = datetime.now(UTC)
    store.materialize(start_date=end - timedelta(days=2), end_date=end)
    print(f"feast materialized in {time.perf_counter() - began:.1f}s", flush=True)


if __name__ == "__main__":
    main()
