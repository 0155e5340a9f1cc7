"""What the training-set benchmark asks for: views, keys, features and ttls.

Plain constants with no third-party imports, so that both the project's interpreter and the Feast
virtualenv's interpreter can import this module.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class ViewSpec:
    """One feature view of the benchmark: its file, entity, join key, ttl and features."""

    name: str
    entity: str
    key: str
    ttl_days: int
    features: tuple[tuple[str, str], ...]  # (name, dtype) with dtype "float64" or "int64"

    @property
    def feature_names(self) -> list[str]:
        return [name for name, _ in self.features]

    @property
    def refs(self) -> list[str]:
        return [f"{self.name}:{name}" for name, _ in self.features]


DRIVER_STATS = ViewSpec(
    name="driver_stats",
    entity="driver",
    key="driver_id",
    ttl_days=7,
    features=(("conv_rate", "float64"), ("acc_rate", "float64"), ("avg_daily_trips", "int64")),
)
CUSTOMER_PROFILE = ViewSpec(
    name="customer_profile",
    entity="customer",
    key="customer_id",
    ttl_days=30,
    features=(
        ("current_balance", "float64"),
        ("avg_passenger_count", "float64"),
        ("lifetime_trip_count", "int64"),
    ),
)
VIEWS: tuple[ViewSpec, ...] = (DRIVER_STATS, CUSTOMER_PROFILE)

TIMESTAMP = "event_timestamp"
CREATED = "created"
ENTITY_COLUMNS: tuple[str, ...] = ("driver_id", "customer_id", TIMESTAMP)
OUTPUT_COLUMNS: tuple[str, ...] = ENTITY_COLUMNS + tuple(n for v in VIEWS for n in v.feature_names)
ALL_REFS: list[str] = [ref for view in VIEWS for ref in view.refs]


@dataclass(frozen=True)
class DataPaths:
    """The Parquet files of one generated data set."""

    folder: str

    def view(self, name: str) -> str:
        return str(Path(self.folder) / f"{name}.parquet")

    @property
    def entities(self) -> str:
        return str(Path(self.folder) / "entities.parquet")


@dataclass(frozen=True)
class Job:
    """What a worker subprocess is told: which system, which data, where to put its result."""

    system: str
    data_folder: str
    scratch: str
    result_path: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(text: str) -> Job:
        return Job(**json.loads(text))

    @property
    def paths(self) -> DataPaths:
        return DataPaths(self.data_folder)


RESULT_PREFIX = "RESULT "


def cpu_seconds() -> float:
    """User + system CPU time of this process so far, all threads included."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def report(job: Job, seconds: float, cpu: float, table: object) -> None:
    """Print the line the parent reads (peak RSS taken before anything else), then write the result."""
    import resource

    import pyarrow.parquet as pq

    peak_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    rows = table.num_rows  # type: ignore[attr-defined]
    line = {"seconds": seconds, "cpu_seconds": cpu, "rows": rows, "peak_rss_kb": peak_rss_kb}
    if job.result_path:
        pq.write_table(table, job.result_path)
    print(RESULT_PREFIX + json.dumps(line), flush=True)
