"""``featurestore init``: a small, working starter repo (definitions + generated data)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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


def quickstart(path: Path) -> list[str]:
    """The commands that take a new repo from definitions to online values, one per line."""
    return [
        f"cd {path}",
        "featurestore apply",
        "featurestore training-set --entities data/entity_rows.parquet --features fraud_model_v1",
        "featurestore materialize --end now",
        "featurestore get-online --features fraud_model_v1 --entity account_id=1 --entity account_id=2",
        "featurestore verify",
    ]


def scaffold(path: Path, now: datetime | None = None) -> list[Path]:
    """Write the starter files, a week of daily data for 50 accounts and a few entity rows.

    The data ends just before ``now`` (default: the current time), so that with the view's 3-day
    ttl every account has a live value when the quickstart materializes "now"; a fixed date would
    have expired long ago. Values are seeded: the same for every run.
    """
    import random

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
    # The last day's rows are stamped on the hour before the last full hour, created 5 minutes
    # later: everything is in the past, even the created times.
    now = (now or datetime.now(UTC)).astimezone(UTC)
    last = now.replace(minute=0, second=0, microsecond=0, tzinfo=None) - timedelta(hours=1)
    days = [last - timedelta(days=6 - d) for d in range(7)]
    # A few hundred rows: the standard library draws them (seeded), so `init` needs no numpy.
    rng = random.Random(0)
    ids = [account for account in range(1, 51) for _ in days]
    when = days * 50
    stamp = pa.timestamp("us", tz="UTC")
    data = pa.table(
        {
            "account_id": pa.array(ids, pa.int64()),
            "event_timestamp": pa.array(when, stamp),
            "created": pa.array([t + timedelta(minutes=5) for t in when], stamp),
            "balance": pa.array([round(rng.gauss(100, 30), 2) for _ in ids], pa.float64()),
            "logins": pa.array([rng.randrange(10) for _ in ids], pa.int64()),
        }
    )
    target = path / "data" / "account_daily.parquet"
    pq.write_table(data, target)
    # Labelled rows to build a training set for: three accounts, yesterday and half an hour after
    # the last day's values.
    rows_at = [last - timedelta(days=1), last + timedelta(minutes=30)]
    entity_rows = pa.table(
        {
            "account_id": pa.array([a for a in (1, 2, 3) for _ in rows_at], pa.int64()),
            "event_timestamp": pa.array(rows_at * 3, pa.timestamp("us", tz="UTC")),
            "label": pa.array([0, 1, 0, 0, 1, 1], pa.int64()),
        }
    )
    entity_target = path / "data" / "entity_rows.parquet"
    pq.write_table(entity_rows, entity_target)
    return [*files, target, entity_target]
