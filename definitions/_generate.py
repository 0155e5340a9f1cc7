"""Deterministic example data for the definitions in this folder.

    python definitions/_generate.py [--root .] [--days 14] [--drivers 200] [--customers 1000]

Writes ``data/`` under the repo root: hourly driver stats (Parquet), daily customer profiles
(hive-partitioned Parquet), driver-customer pair stats (CSV), customer payments (an event log,
Parquet) and ``entity_rows.parquet``, a labelled set of ride requests to build a training set for.
Same arguments, same bytes.
"""

from __future__ import annotations

import argparse
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def default_end() -> datetime:
    """The current hour (UTC): the data is "live", so materialized values are within their ttl."""
    return datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)


def _ts(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype("datetime64[us]"), type=pa.timestamp("us"))


def driver_stats(rng: np.random.Generator, end: datetime, drivers: int, days: int) -> pa.Table:
    hours = days * 24
    start = np.datetime64(end - timedelta(days=days), "us")
    ids = np.repeat(np.arange(1001, 1001 + drivers), hours)
    hour = np.tile(np.arange(hours), drivers)
    # Some drivers are offline in some hours: drop 20% of rows.
    keep = rng.random(ids.size) > 0.2
    ids, hour = ids[keep], hour[keep]
    event = start + hour.astype("timedelta64[h]")
    created = event + rng.integers(1, 600, ids.size).astype("timedelta64[s]")
    table = pa.table(
        {
            "driver_id": ids.astype(np.int64),
            "event_timestamp": _ts(event),
            "created": _ts(created),
            "conv_rate": np.round(rng.random(ids.size), 4),
            "acc_rate": np.round(rng.random(ids.size), 4),
            "avg_daily_trips": rng.integers(0, 40, ids.size),
        }
    )
    # A late correction: the same event time re-stated with a later created time.
    fix = rng.choice(ids.size, size=max(1, ids.size // 200), replace=False)
    corrected = table.take(pa.array(fix))
    corrected = corrected.set_column(
        2, "created", _ts(corrected.column("created").to_numpy() + np.timedelta64(1, "h"))
    ).set_column(3, "conv_rate", pa.array(np.round(rng.random(fix.size), 4)))
    return pa.concat_tables([table, corrected])


def customer_profiles(rng: np.random.Generator, end: datetime, customers: int, days: int, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    tiers = np.array(["bronze", "silver", "gold"])
    for d in range(days):
        day = end - timedelta(days=days - d)
        ids = np.arange(5001, 5001 + customers)
        ids = ids[rng.random(ids.size) > 0.5]  # profiles are refreshed when they change
        event = np.full(ids.size, np.datetime64(day, "us"))
        table = pa.table(
            {
                "customer_id": ids.astype(np.int64),
                "event_timestamp": _ts(event),
                "created": _ts(event + np.timedelta64(2, "h")),
                "current_balance": np.round(rng.normal(50, 20, ids.size), 2),
                "avg_passenger_count": np.round(rng.uniform(1, 4, ids.size), 2),
                "lifetime_trip_count": rng.integers(0, 500, ids.size),
                "tier": tiers[rng.integers(0, 3, ids.size)],
            }
        )
        folder = out / f"day={day:%Y-%m-%d}"
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-0.parquet")


def pair_stats(rng: np.random.Generator, end: datetime, drivers: int, customers: int, days: int) -> pa.Table:
    n = drivers * 20
    offsets = rng.integers(0, days * 86400, n).astype("timedelta64[s]")
    event = np.datetime64(end - timedelta(days=days), "us") + offsets
    return pa.table(
        {
            "driver_id": rng.integers(1001, 1001 + drivers, n),
            "customer_id": rng.integers(5001, 5001 + min(customers, 200), n),
            "event_timestamp": pa.array(
                np.datetime_as_string(event.astype("datetime64[s]")), type=pa.string()
            ),
            "trips_together": rng.integers(1, 30, n),
            "avg_rating_given": np.round(rng.uniform(1, 5, n), 2),
        }
    )


def customer_payments(end: datetime, drivers: int, customers: int, days: int) -> pa.Table:
    """One row per ride payment (an event log): frequent riders pay many times a day, most a few
    times a week; 2% of payments were declined (null amount); 1% are split (two payments of one
    customer at the same second)."""
    rng = np.random.default_rng(11)  # a stream of its own: the other files stay byte-identical
    per_day = np.minimum(rng.pareto(1.5, customers) + 0.2, 30.0)
    ids = np.repeat(np.arange(5001, 5001 + customers), rng.poisson(per_day * days))
    start = np.datetime64(end - timedelta(days=days), "us")
    event = start + rng.integers(1, days * 86400, ids.size).astype("timedelta64[s]")
    split = rng.choice(ids.size, size=ids.size // 100, replace=False)
    ids, event = np.concatenate([ids, ids[split]]), np.concatenate([event, event[split]])
    order = np.lexsort((ids, event))
    ids, event = ids[order], event[order]
    amount = np.round(rng.gamma(2.0, 9.0, ids.size), 2)
    declined = rng.random(ids.size) < 0.02
    return pa.table(
        {
            "customer_id": ids.astype(np.int64),
            "event_timestamp": _ts(event),
            "created": _ts(event + rng.integers(1, 120, ids.size).astype("timedelta64[s]")),
            "amount": pa.array(np.where(declined, np.nan, amount), mask=declined),
            "driver_id": rng.integers(1001, 1001 + drivers, ids.size).astype(np.int64),
        }
    )


def entity_rows(
    rng: np.random.Generator, end: datetime, drivers: int, customers: int, days: int, n: int
) -> pa.Table:
    offsets = rng.integers(0, (days + 1) * 86400, n).astype("timedelta64[s]")
    event = np.datetime64(end - timedelta(days=days), "us") + offsets
    return pa.table(
        {
            "request_id": np.arange(n, dtype=np.int64),
            "driver_id": rng.integers(1001, 1001 + drivers, n),
            "customer_id": rng.integers(5001, 5001 + min(customers, 200), n),
            "event_timestamp": _ts(event),
            "trip_completed": rng.random(n) > 0.3,
        }
    )


def generate(
    root: Path,
    days: int = 14,
    drivers: int = 200,
    customers: int = 1000,
    rows: int = 10_000,
    end: datetime | None = None,
) -> Path:
    """Write the example data; the same arguments (and ``end``) give the same bytes."""
    end = end or default_end()
    rng = np.random.default_rng(7)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    pq.write_table(driver_stats(rng, end, drivers, days), data / "driver_hourly_stats.parquet")
    customer_profiles(rng, end, customers, days, data / "customer_profile")
    pacsv.write_csv(pair_stats(rng, end, drivers, customers, days), data / "driver_customer_stats.csv")
    pq.write_table(entity_rows(rng, end, drivers, customers, days, rows), data / "entity_rows.parquet")
    pq.write_table(customer_payments(end, drivers, customers, days), data / "customer_payments.parquet")
    return data


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--drivers", type=int, default=200)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=10_000, help="entity rows to label")
    parser.add_argument(
        "--end", type=datetime.fromisoformat, default=None, help="last event time (default: this hour, UTC)"
    )
    args = parser.parse_args()
    data = generate(args.root, args.days, args.drivers, args.customers, args.rows, args.end)
    print(f"wrote example data to {data}")


if __name__ == "__main__":
    main()
