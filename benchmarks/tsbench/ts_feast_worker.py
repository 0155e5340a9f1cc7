"""One measured Feast run (file or DuckDB offline store), run with the Feast virtualenv's interpreter.

Usage (by training_set.py): ``benchmarks/.feast-venv/bin/python benchmarks/ts_feast_worker.py '<Job>'``
with ``job.system`` one of ``feast-file`` and ``feast-duckdb``. Imports only Feast, pandas, numpy and
pyarrow, never featurestore.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from ts_spec import (
    ALL_REFS,
    CREATED,
    OUTPUT_COLUMNS,
    TIMESTAMP,
    VIEWS,
    DataPaths,
    Job,
    ViewSpec,
    cpu_seconds,
    report,
)

ROW_ID = "row_id"

CONFIG = """project: bench
provider: local
registry: {repo}/registry.db
online_store:
  type: sqlite
  path: {repo}/online.db
offline_store:
  type: {offline}
entity_key_serialization_version: 3
"""


def _feast_objects(paths: DataPaths, view: ViewSpec) -> list[Any]:
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64, Int64

    dtypes = {"float64": Float64, "int64": Int64}
    entity = Entity(name=view.entity, join_keys=[view.key], value_type=ValueType.INT64)
    source = FileSource(
        name=view.name,
        path=paths.view(view.name),
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


def build_store(repo: Path, paths: DataPaths, offline: str) -> Any:
    """A Feast repo in ``repo`` with the benchmark's entities, sources and views applied."""
    from feast import FeatureStore

    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(CONFIG.format(repo=repo, offline=offline))
    store = FeatureStore(repo_path=str(repo))
    store.apply([obj for view in VIEWS for obj in _feast_objects(paths, view)])
    return store


def historical_features(store: Any, paths: DataPaths) -> pa.Table:
    """The timed part: the entity rows as pandas (plus a row id to match rows), then Feast's join."""
    entity_df = pq.read_table(paths.entities).to_pandas()
    entity_df[ROW_ID] = np.arange(len(entity_df), dtype=np.int64)
    table: pa.Table = store.get_historical_features(entity_df=entity_df, features=ALL_REFS).to_arrow()
    return table


def main(argv: list[str]) -> None:
    job = Job.from_json(argv[1])
    offline = job.system.removeprefix("feast-")
    store = build_store(Path(job.scratch) / "feast_repo", job.paths, offline)
    cpu_start, start = cpu_seconds(), time.perf_counter()
    table = historical_features(store, job.paths)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    report(job, seconds, cpu, table.select([ROW_ID, *OUTPUT_COLUMNS]))


if __name__ == "__main__":
    main(sys.argv)
