"""Training/serving skew, measured: logged served values vs the same rows recomputed offline.

Each logged row becomes an entity row stamped with its request time (its request data as columns);
the training set for the logged service's features gives what the offline store says was true then.
Each row of each feature is a match, a mismatch (both have a value, they differ), missing (served
none, offline has one) or extra (served one, offline has none); numbers also get the SMAPE of the two
(``consistency.py``). Causes: data that landed in the source after it was materialized, values pushed
online only, a stale materialization, or a bug.

A log is a local Parquet file or folder, or an ``s3://`` prefix (read with the repo's storage settings:
endpoint, region, credentials). Replay is handed the registry, the engine, the repo root and the storage;
it never sees the ``FeatureStore`` facade.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurestore.errors import EntityRowsError
from featurestore.feature_logging.consistency import ConsistencyMetrics, measure
from featurestore.feature_logging.writer import (
    META_FEATURES,
    META_KEYS,
    META_REQUEST,
    META_SERVICE,
    REQUEST_TS,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.engines.base import Engine
    from featurestore.registry.code import CodeMode
    from featurestore.registry.model import Registry
    from featurestore.storage import Storage


FeatureSkew = ConsistencyMetrics
"""The name ``verify_log``'s results had before they grew into consistency metrics."""


def log_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*.parquet") if not p.name.startswith("."))
    raise EntityRowsError(f"feature log {str(path)!r} does not exist (give a Parquet file or a folder)")


def log_tables(path: str | Path, storage: Storage | None = None) -> Iterator[tuple[str, pa.Table]]:
    """(name, table) of every log file at ``path``: a local file or folder, or an ``s3://`` URL (a file or a
    prefix) read with the settings of ``storage`` (when it is S3; else the standard AWS variables)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = str(path)
    if not text.startswith("s3://"):
        for file in log_files(Path(path)):
            yield str(file), pq.read_table(file)
        return
    from featurestore.config import StorageConfig
    from featurestore.storage import S3Storage

    config = storage.config if isinstance(storage, S3Storage) else StorageConfig()
    if text.endswith(".parquet"):
        base, _, name = text.rpartition("/")
        bucket = S3Storage(base, config)
        keys = [name] if bucket.exists(name) else []
    else:
        bucket = S3Storage(text, config)
        keys = [o.key for o in bucket.list("") if o.key.endswith(".parquet")]
    if not keys:
        raise EntityRowsError(f"feature log {text!r} holds no Parquet file (give a file or a prefix of one)")
    for key in keys:
        yield bucket.uri(key), pq.read_table(pa.BufferReader(bucket.read_bytes(key)))


def read_logs(path: str | Path, storage: Storage | None = None) -> dict[str, tuple[pa.Table, dict[str, Any]]]:
    """The logged rows per service, with the log metadata (features, join keys, request fields)."""
    import pyarrow as pa

    groups: dict[str, list[pa.Table]] = {}
    meta: dict[str, dict[str, Any]] = {}
    for file, table in log_tables(path, storage):
        info = table.schema.metadata or {}
        if META_SERVICE not in info:
            raise EntityRowsError(
                f"{file} is not a feature log written by featurestore (no service metadata)"
            )
        service = info[META_SERVICE].decode()
        groups.setdefault(service, []).append(table.replace_schema_metadata(None))
        meta[service] = {
            "features": json.loads(info[META_FEATURES]),
            "join_keys": json.loads(info[META_KEYS]),
            "request_fields": json.loads(info[META_REQUEST]),
        }
    if not groups:
        raise EntityRowsError(f"no feature log files under {path}")
    return {s: (pa.concat_tables(t, promote_options="default"), meta[s]) for s, t in groups.items()}


def verify_log(
    registry: Registry,
    engine: Engine,
    root: Path,
    path: str | Path,
    storage: Storage | None = None,
    code: CodeMode = "registry",
) -> list[ConsistencyMetrics]:
    """Recompute every logged row offline; one :class:`ConsistencyMetrics` per (service, feature),
    each keeping its per-row figures (``table()``). ``storage``:
    the repo's, whose settings read an ``s3://`` log; ``code``: where on-demand functions come from
    (``[registry] on_demand_code``)."""
    from featurestore.retrieve.on_demand import build_on_demand_training_set
    from featurestore.retrieve.training import build_training_set

    out = []
    for service, (table, meta) in read_logs(path, storage).items():
        columns = [*meta["join_keys"], REQUEST_TS, *meta["request_fields"]]
        entity_rows = table.select(columns)
        features: list[str] = meta["features"]
        # A logged service may hold on-demand features: their builder (None without any), else the plain one.
        request = (registry, engine, root, entity_rows, features)
        options: dict[str, Any] = {"full_feature_names": True, "timestamp_column": REQUEST_TS}
        training = build_on_demand_training_set(*request, **options, as_known_at=False, code=code)
        if training is None:  # no on-demand feature (not `or`: a training set of no rows is falsy)
            training = build_training_set(*request, **options)
        offline = training.to_arrow()
        where = table.select([*meta["join_keys"], REQUEST_TS]).rename_columns(
            [*meta["join_keys"], "request_ts"]
        )
        for ref in features:
            name = ref.replace(":", "__")
            out.append(measure(service, ref, where, table.column(name), offline.column(name)))
    return out
