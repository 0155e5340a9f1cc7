"""What the online benchmark reads and writes: two driver views, their features, ttls and source sizes.

Plain constants with no third-party imports, so that both the project's interpreter and the Feast
virtualenv's interpreter (``online_feast_worker.py``) can import this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ENTITY = "driver"
KEY = "driver_id"
TIMESTAMP = "event_timestamp"
CREATED = "created"
PROJECT = "onlinebench"


@dataclass(frozen=True)
class ViewSpec:
    name: str
    ttl_days: int
    rows_per_driver: int  # source rows per driver (the latest one is materialized)
    features: tuple[tuple[str, str], ...]  # (name, dtype): float64, int64 or string

    @property
    def feature_names(self) -> list[str]:
        return [name for name, _ in self.features]

    @property
    def refs(self) -> list[str]:
        return [f"{self.name}:{name}" for name, _ in self.features]


VIEWS: tuple[ViewSpec, ...] = (
    ViewSpec(
        name="driver_stats",
        ttl_days=30,
        rows_per_driver=5,
        features=(
            ("conv_rate", "float64"),
            ("acc_rate", "float64"),
            ("avg_daily_trips", "int64"),
            ("city", "string"),
        ),
    ),
    ViewSpec(
        name="driver_profile",
        ttl_days=90,
        rows_per_driver=2,
        features=(
            ("rating", "float64"),
            ("lifetime_trips", "int64"),
            ("vehicle_type", "string"),  # 1% nulls
            ("days_active", "int64"),
        ),
    ),
)
REFS: list[str] = [ref for view in VIEWS for ref in view.refs]
FEATURES: list[str] = [name for view in VIEWS for name in view.feature_names]
SPAN_DAYS = 14  # source rows lie in the SPAN_DAYS days before the anchor (midnight UTC of the run's day)
RESULT_PREFIX = "RESULT "


def percentiles_ms(samples_ns: list[int]) -> dict[str, float]:
    """p50 / p95 / p99 / mean in milliseconds (nearest-rank percentiles, no numpy needed)."""
    ordered = sorted(samples_ns)
    n = len(ordered)

    def rank(p: float) -> float:
        return ordered[min(n - 1, max(0, math.ceil(p / 100 * n) - 1))] / 1e6

    return {
        "p50": rank(50),
        "p95": rank(95),
        "p99": rank(99),
        "mean": sum(ordered) / n / 1e6,
        "calls": n,
    }
