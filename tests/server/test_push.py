"""Push: schema checks (nothing written on a mismatch), newer-wins online, and the offline push log read by
training sets and materialization under the same point-in-time rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from featurestore.errors import SchemaMismatchError, UnknownViewError
from tests.server.conftest import Served

US = timedelta(microseconds=1)


def _row(driver: int, ts: datetime, rate: float, **extra: Any) -> dict[str, Any]:
    row = {
        "driver_id": driver,
        "event_timestamp": ts,
        "conv_rate": rate,
        "acc_rate": 0.5,
        "avg_daily_trips": 4,
    }
    return {**row, **extra}


def _conv_rate(store: FeatureStore, driver: int, times: list[datetime]) -> list[Any]:
    rows = pl.DataFrame({"driver_id": [driver] * len(times), "event_timestamp": times})
    return (
        store.get_training_set(rows, ["driver_hourly_stats:conv_rate"])
        .to_arrow()
        .column("conv_rate")
        .to_pylist()
    )


def _log_files(root: Path, view: str) -> list[Path]:
    return sorted((root / ".featurestore" / "push_log" / view).glob("*"))


def test_a_schema_mismatch_writes_nothing(serving_repo: Served) -> None:
    at = serving_repo.at
    with FeatureStore(serving_repo.root) as store:
        before = store.get_online_features(["driver_hourly_stats:conv_rate"], {"driver_id": [1001]}).to_dict()
        bad = [
            ([{"driver_id": 1001, "event_timestamp": at, "conv_rate": 0.1}], "lack column"),
            ([_row(1001, at, 0.1, conv_rat=1.0)], "Did you mean 'conv_rate'"),
            ([_row(1001, at, "high")], "column 'conv_rate' is string, the feature is float64"),
            ([_row(None, at, 0.1)], "join key 'driver_id' has 1 null"),  # type: ignore[arg-type]
            ([_row(1001, None, 0.1)], "null"),  # type: ignore[arg-type]
            ([_row("1001", at, 0.1)], "not integers"),  # type: ignore[arg-type]
            ([_row(1001, "yesterday", 0.1)], "not an ISO 8601 timestamp"),  # type: ignore[arg-type]
            ([_row(1001, at, 0.1, avg_daily_trips=1.5)], "does not fit int64"),
            (42, "must be a list of dicts"),
        ]
        for rows, message in bad:
            with pytest.raises(SchemaMismatchError, match=message):
                store.push("driver_hourly_stats", rows, to="both")
        with pytest.raises(UnknownViewError):
            store.push("driver_stats", [_row(1001, at, 0.1)])
        after = store.get_online_features(["driver_hourly_stats:conv_rate"], {"driver_id": [1001]}).to_dict()
    assert after == before
    assert _log_files(serving_repo.root, "driver_hourly_stats") == []


def test_offline_push_is_read_with_point_in_time_rules(serving_repo: Served) -> None:
    t = serving_repo.at + timedelta(hours=5)  # after every source row
    ttl = timedelta(days=2)
    with FeatureStore(serving_repo.root) as store:
        source_before = _conv_rate(store, 1007, [t - US])[0]
        result = store.push("driver_hourly_stats", [_row(1007, t, 0.777)], to="offline")
        assert result.online_written is None
        assert result.offline_file is not None
        got = _conv_rate(store, 1007, [t - US, t, t + ttl, t + ttl + US])
        # before t: the source's value; at t (inclusive) and up to the ttl: the pushed one; then nothing
        assert got == [source_before, 0.777, 0.777, None]
        assert got[0] != 0.777
        # offline only: the online store did not change
        online = store.get_online_features(["driver_hourly_stats:conv_rate"], {"driver_id": [1007]}, now=t)
        assert online.to_dict()["conv_rate"] != [0.777]
        # materialization reads the push log too
        store.materialize(end=t)
        online = store.get_online_features(["driver_hourly_stats:conv_rate"], {"driver_id": [1007]}, now=t)
        assert online.to_dict()["conv_rate"] == [0.777]
    assert [p.suffix for p in _log_files(serving_repo.root, "driver_hourly_stats")] == [".parquet"]


def test_a_pushed_correction_wins_a_tie_by_created_time(serving_repo: Served) -> None:
    source = pq.read_table(serving_repo.root / "data" / "driver_hourly_stats.parquet").to_pylist()
    first = min((r for r in source if r["driver_id"] == 1003), key=lambda r: r["event_timestamp"])
    ts = first["event_timestamp"].replace(tzinfo=UTC)
    with FeatureStore(serving_repo.root) as store:
        assert _conv_rate(store, 1003, [ts]) != [0.5555]
        store.push("driver_hourly_stats", [_row(1003, ts, 0.5555)], to="offline")  # created = now: later
        assert _conv_rate(store, 1003, [ts]) == [0.5555]
        # with an explicit created time older than the source row's, the source row keeps winning
        store.push("driver_hourly_stats", [_row(1003, ts, 0.1111, created=ts)], to="offline")
        assert _conv_rate(store, 1003, [ts]) == [0.5555]


def test_online_push_is_newer_wins_and_invisible_offline(serving_repo: Served) -> None:
    t = serving_repo.at + timedelta(hours=1)
    refs = ["driver_hourly_stats:conv_rate"]
    with FeatureStore(serving_repo.root) as store:
        frame = pl.DataFrame([_row(1010, t, 0.9), _row(1011, t, 0.8)])
        assert store.push("driver_hourly_stats", frame).online_written == 2
        assert (
            store.push("driver_hourly_stats", [_row(1010, t - timedelta(minutes=1), 0.1)]).online_written == 0
        )
        got = store.get_online_features(refs, {"driver_id": [1010, 1011]}, now=t).to_dict()
        assert got["conv_rate"] == [0.9, 0.8]
        assert _conv_rate(store, 1010, [t]) != [0.9]
    assert _log_files(serving_repo.root, "driver_hourly_stats") == []


def test_push_into_hive_partitioned_and_sql_sources(serving_repo: Served) -> None:
    t = serving_repo.at + timedelta(hours=2)
    with FeatureStore(serving_repo.root) as store:
        store.push(
            "customer_profile",
            {"customer_id": [5003], "event_timestamp": [t.isoformat()], "current_balance": [12.5],
             "avg_passenger_count": [1], "lifetime_trip_count": [3], "tier": ["platinum"]},
            to="both",
        )  # fmt: skip
        store.push(
            "driver_customer_stats",
            [{"driver_id": 1001, "customer_id": 5001, "event_timestamp": t, "trips_together": 99,
              "avg_rating_given": 5.0}],
            to="offline",
        )  # fmt: skip
        rows = pl.DataFrame({"driver_id": [1001], "customer_id": [5003], "event_timestamp": [t]})
        table = store.get_training_set(rows, ["customer_profile:tier"]).to_arrow()
        assert table.column("tier").to_pylist() == ["platinum"]
        rows = pl.DataFrame({"driver_id": [1001], "customer_id": [5001], "event_timestamp": [t]})
        table = store.get_training_set(rows, ["driver_customer_stats:trips_together"]).to_arrow()
        assert table.column("trips_together").to_pylist() == [99]
        online = store.get_online_features(["customer_profile:tier"], {"customer_id": [5003]}, now=t)
        assert online.to_dict()["tier"] == ["platinum"]
