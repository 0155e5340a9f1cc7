"""``featurestore init``: a small, working starter repo (definitions + generated data)."""

from __future__ import annotations

from pathlib import Path

CONFIG = """\
# featurestore.toml: every setting is optional.
project = "{project}"

[online]
type = "sqlite"            # embedded; for Redis: type = "redis", url = "redis://localhost:6379/0"
"""

DEFINITIONS = '''\
"""Starter definitions: one entity, one feature view, one feature service."""

from datetime import timedelta

from featurestore import Entity, Feature, FeatureService, FeatureView, FileSource

account = Entity(name="account", join_keys=["account_id"])

account_daily = FeatureView(
    name="account_daily",
    entities=[account],
    source=FileSource(name="account_daily_source", path="data/account_daily.parquet",
                      timestamp_field="event_timestamp", created_timestamp_field="created"),
    ttl=timedelta(days=3),
    features=[Feature("balance", "float64"), Feature("logins", "int64")],
)

fraud_model_v1 = FeatureService(name="fraud_model_v1", features=[account_daily])
'''


def scaffold(path: Path) -> list[Path]:
    """Write the starter files and a week of daily data for 50 accounts."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.mkdir(parents=True, exist_ok=True)
    (path / "definitions").mkdir()
    (path / "data").mkdir(exist_ok=True)
    project = "".join(c if c.isalnum() else "_" for c in path.resolve().name) or "starter"
    files = {
        path / "featurestore.toml": CONFIG.format(project=project),
        path / "definitions" / "accounts.py": DEFINITIONS,
        path / ".gitignore": ".featurestore/\n",
    }
    for file, text in files.items():
        file.write_text(text)
    rng = np.random.default_rng(0)
    days = np.arange(np.datetime64("2026-01-01"), np.datetime64("2026-01-08")).astype("datetime64[us]")
    ids = np.repeat(np.arange(1, 51), days.size)
    when = np.tile(days, 50)
    data = pa.table(
        {
            "account_id": ids.astype(np.int64),
            "event_timestamp": pa.array(when, pa.timestamp("us")),
            "created": pa.array(when + np.timedelta64(1, "h"), pa.timestamp("us")),
            "balance": np.round(rng.normal(100, 30, ids.size), 2),
            "logins": rng.integers(0, 10, ids.size),
        }
    )
    target = path / "data" / "account_daily.parquet"
    pq.write_table(data, target)
    return [*files, target]
