"""Deterministic data for the aggregation benchmark: an event log of payments and entity rows.

Events: ``customer_id``, ``event_timestamp`` (µs, naive UTC), ``amount`` (2% null), over 90 days, sorted
by time (as an event log is), in row groups of 256k. Customers are skewed like real payers: with
``skew`` > 0 a customer's share of events follows a Pareto(``skew``) law (1.5: the busiest 1% of
customers make ~19% of the payments); ``skew`` 0 is uniform. Entity rows: customers drawn from the same
law, times uniform over the period plus 3 days. Same sizes and seed, same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

START = datetime(2024, 1, 1)
SPAN_DAYS = 90
ROW_GROUP = 256 * 1024
DAY_US = 86_400 * 1_000_000


@dataclass(frozen=True)
class Sizes:
    events: int
    entity_rows: int
    keys: int = 100_000
    skew: float = 1.5
    seed: int = 42

    @property
    def folder_name(self) -> str:
        return f"agg-e{self.events}-r{self.entity_rows}-k{self.keys}-s{self.skew:g}-{self.seed}"


def _weights(rng: np.random.Generator, sizes: Sizes) -> np.ndarray:
    if sizes.skew <= 0:
        return np.full(sizes.keys, 1.0 / sizes.keys)
    weights = rng.pareto(sizes.skew, sizes.keys) + 1.0
    return weights / weights.sum()


def ensure_data(work: Path, sizes: Sizes) -> Path:
    """``events.parquet`` and ``entities.parquet`` under ``work/<sizes>``, generated once."""
    folder = work / sizes.folder_name
    if (folder / "entities.parquet").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(sizes.seed)
    weights = _weights(rng, sizes)
    start = np.datetime64(START, "us").astype(np.int64)
    keys = rng.choice(sizes.keys, sizes.events, p=weights).astype(np.int64) + 1
    ts = start + rng.integers(0, SPAN_DAYS * DAY_US, sizes.events)
    order = np.argsort(ts, kind="stable")
    keys, ts = keys[order], ts[order]
    amount = np.round(rng.gamma(2.0, 30.0, sizes.events), 2)
    null = rng.random(sizes.events) < 0.02
    events = pa.table(
        {
            "customer_id": keys,
            "event_timestamp": pa.array(ts.astype("datetime64[us]"), pa.timestamp("us")),
            "amount": pa.array(np.where(null, 0.0, amount), mask=null),
        }
    )
    pq.write_table(events, folder / ".events.parquet", row_group_size=ROW_GROUP)
    (folder / ".events.parquet").rename(folder / "events.parquet")
    entity_keys = rng.choice(sizes.keys, sizes.entity_rows, p=weights).astype(np.int64) + 1
    entity_ts = start + rng.integers(0, (SPAN_DAYS + 3) * DAY_US, sizes.entity_rows)
    entities = pa.table(
        {
            "customer_id": entity_keys,
            "event_timestamp": pa.array(entity_ts.astype("datetime64[us]"), pa.timestamp("us")),
        }
    )
    pq.write_table(entities, folder / ".entities.parquet", row_group_size=ROW_GROUP)
    (folder / ".entities.parquet").rename(folder / "entities.parquet")
    return folder
