"""Deterministic synthetic data for the training-set benchmark (numpy + pyarrow, fixed seed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from ts_spec import CREATED, CUSTOMER_PROFILE, DRIVER_STATS, TIMESTAMP, DataPaths, ViewSpec

START = datetime(2024, 1, 1)
SPAN_DAYS = 90
EARLY_DAYS = 3  # entity rows may start this long before any feature data
TIE_FRACTION = 0.02  # share of feature rows that repeat another row's (key, ts) with a later created
UNKNOWN_KEY_FRACTION = 0.02  # share of entity keys drawn beyond the keys that have feature data
ROW_GROUP_SIZE = 256 * 1024
SECOND_US = 1_000_000
HOUR_US = 3600 * SECOND_US

ValueMaker = Callable[[np.random.Generator, int], np.ndarray]

VALUE_MAKERS: dict[str, ValueMaker] = {
    "conv_rate": lambda rng, n: rng.random(n),
    "acc_rate": lambda rng, n: rng.random(n),
    "avg_daily_trips": lambda rng, n: rng.integers(0, 50, n),
    "current_balance": lambda rng, n: np.round(rng.normal(100.0, 50.0, n), 2),
    "avg_passenger_count": lambda rng, n: rng.random(n) * 4,
    "lifetime_trip_count": lambda rng, n: rng.integers(0, 5000, n),
}


@dataclass(frozen=True)
class Sizes:
    """How much data to generate."""

    driver_rows: int
    customer_rows: int
    entity_rows: int
    keys: int  # distinct drivers, and distinct customers
    seed: int = 42

    @property
    def folder_name(self) -> str:
        return f"d{self.driver_rows}-c{self.customer_rows}-e{self.entity_rows}-k{self.keys}-s{self.seed}"


def _start_us() -> int:
    return int(np.datetime64(START, "us").astype(np.int64))


def _timestamps(values_us: np.ndarray) -> pa.Array:
    return pa.array(values_us.astype("datetime64[us]"), type=pa.timestamp("us"))


def _add_ties(rng: np.random.Generator, keys: np.ndarray, ts: np.ndarray, created: np.ndarray) -> None:
    """Make some rows repeat another row's (key, ts) with a strictly later created timestamp."""
    rows = len(keys)
    n_ties = int(rows * TIE_FRACTION)
    if n_ties == 0:
        return
    copies = rng.choice(rows, n_ties, replace=False)
    keep = np.ones(rows, dtype=bool)
    keep[copies] = False
    pool = np.flatnonzero(keep)
    originals = pool[rng.integers(0, len(pool), n_ties)]
    keys[copies] = keys[originals]
    ts[copies] = ts[originals]
    created[copies] = created[originals] + rng.integers(1, HOUR_US, n_ties)


def feature_table(rng: np.random.Generator, view: ViewSpec, rows: int, n_keys: int) -> pa.Table:
    """``rows`` rows over ``n_keys`` keys and SPAN_DAYS days, sorted by event time like an event log."""
    keys = rng.integers(0, n_keys, rows, dtype=np.int64)
    ts = _start_us() + rng.integers(0, SPAN_DAYS * 86400, rows, dtype=np.int64) * SECOND_US
    created = ts + rng.integers(0, HOUR_US, rows, dtype=np.int64)  # ingestion delay up to an hour
    _add_ties(rng, keys, ts, created)
    columns: dict[str, pa.Array] = {
        view.key: pa.array(keys),
        TIMESTAMP: _timestamps(ts),
        CREATED: _timestamps(created),
    }
    for name, dtype in view.features:
        columns[name] = pa.array(VALUE_MAKERS[name](rng, rows).astype(dtype))
    order = np.argsort(ts, kind="stable")
    return pa.table(columns).take(pa.array(order))


def entity_table(rng: np.random.Generator, rows: int, n_keys: int) -> pa.Table:
    """Entity rows in random order, a few keys without data and a few times before all feature data."""
    key_range = int(n_keys * (1 + UNKNOWN_KEY_FRACTION))
    seconds = rng.integers(-EARLY_DAYS * 86400, SPAN_DAYS * 86400, rows, dtype=np.int64)
    return pa.table(
        {
            DRIVER_STATS.key: pa.array(rng.integers(0, key_range, rows, dtype=np.int64)),
            CUSTOMER_PROFILE.key: pa.array(rng.integers(0, key_range, rows, dtype=np.int64)),
            TIMESTAMP: _timestamps(_start_us() + seconds * SECOND_US),
        }
    )


def _write(table: pa.Table, path: str) -> None:
    tmp = f"{path}.tmp"
    pq.write_table(table, tmp, row_group_size=ROW_GROUP_SIZE)
    Path(tmp).rename(path)


def ensure_data(work_dir: Path, sizes: Sizes) -> DataPaths:
    """Generate the data set for ``sizes`` under ``work_dir`` unless it is already there."""
    paths = DataPaths(str(work_dir / sizes.folder_name))
    if Path(paths.entities).exists():
        return paths
    Path(paths.folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(sizes.seed)
    _write(feature_table(rng, DRIVER_STATS, sizes.driver_rows, sizes.keys), paths.view(DRIVER_STATS.name))
    _write(
        feature_table(rng, CUSTOMER_PROFILE, sizes.customer_rows, sizes.keys),
        paths.view(CUSTOMER_PROFILE.name),
    )
    _write(entity_table(rng, sizes.entity_rows, sizes.keys), paths.entities)  # written last: the marker
    return paths
