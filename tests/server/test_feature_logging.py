"""Feature logging: a bounded queue that drops (and counts) instead of blocking, Parquet files per service,
and the replay that measures training/serving skew."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pyarrow.parquet as pq
from click.testing import CliRunner

from featurestore import FeatureStore
from featurestore.cli import cli
from featurestore.feature_logging import FeatureLogger
from tests.server.conftest import Served

ENTITIES = {"driver_id": [1001, 1002, 1003], "customer_id": [5001, 5002, 5003]}
REQUEST = {"quoted_fare": [10.0, 22.5, 7.0], "distance_km": [2.0, 9.0, 1.0]}


def _served(store: FeatureStore, *, full: bool = False) -> dict[str, Any]:
    """What the server hands the logger for one request."""
    response = store.get_online_features(
        "ranking_logged", ENTITIES, request_data=REQUEST, full_feature_names=full
    )
    statuses = response.statuses()
    return {"features": list(statuses), "values": response.to_dict(), "statuses": statuses}


def test_a_full_queue_drops_and_counts_and_never_blocks(serving_repo: Served) -> None:
    with FeatureStore(serving_repo.root) as store:
        logger = FeatureLogger(store, queue_size=2)
        served = _served(store)
        began = time.perf_counter()
        for _ in range(5):  # the writer is not started: the queue fills after two
            logger.log("ranking_logged", ENTITIES, REQUEST, served, time.time())
        logger.log("driver_ranking_v1", ENTITIES, None, served, time.time())  # not a logged service
        assert time.perf_counter() - began < 0.5
        assert logger.dropped == 3
        assert logger.dropped_rows == 9
        logger.start()
        logger.close()
        assert logger.written == 6
        assert logger.failed == 0
    folder = serving_repo.root / ".featurestore" / "feature_log" / "ranking_logged"
    files = list(folder.rglob("*.parquet"))
    assert len(files) == 1
    table = pq.read_table(files[0])
    assert table.num_rows == 6
    assert table.schema.metadata[b"featurestore.service"] == b"ranking_logged"
    assert table.column("ride_value__fare_per_km").to_pylist()[:3] == [5.0, 2.5, 7.0]
    assert table.column("driver_hourly_stats__conv_rate__status").to_pylist()[0] == "PRESENT"
    assert table.column("quoted_fare").to_pylist()[:3] == REQUEST["quoted_fare"]


def test_replay_finds_no_skew_then_the_skew_of_a_late_row(serving_repo: Served) -> None:
    with FeatureStore(serving_repo.root) as store:
        logger = FeatureLogger(store)
        logger.start()
        logger.log("ranking_logged", ENTITIES, REQUEST, _served(store), time.time())
        logger.log("ranking_logged", ENTITIES, REQUEST, _served(store, full=True), time.time())
        logger.close()
        folder = serving_repo.root / ".featurestore" / "feature_log"
        checks = store.verify_log(folder)
        assert len(checks) == 7
        assert all(c.rows == 6 and c.mismatches == 0 for c in checks), [
            (c.feature, c.examples) for c in checks
        ]

        # A row that lands offline late: stamped before the requests, after the materialized value.
        late = serving_repo.at - timedelta(minutes=1)
        row = {"driver_id": 1002, "event_timestamp": late, "conv_rate": 0.0123, "acc_rate": 0.5,
               "avg_daily_trips": 40}  # fmt: skip
        store.push("driver_hourly_stats", [row], to="offline")
        skew = {c.feature: c for c in store.verify_log(folder)}
    assert skew["driver_hourly_stats:conv_rate"].mismatches == 2
    assert skew["driver_hourly_stats:conv_rate"].mismatch_rate == 2 / 6
    assert skew["driver_hourly_stats:conv_rate"].examples[0]["offline"] == 0.0123
    assert skew["ride_value:expected_value"].mismatches == 2  # computed from conv_rate
    assert skew["customer_profile:tier"].mismatches == 0

    code = CliRunner().invoke(cli, ["--repo", str(serving_repo.root), "verify", "--from-log", str(folder)])
    assert code.exit_code == 1
    assert "driver_hourly_stats:conv_rate" in code.stdout
    assert "33.3333%" in code.stdout


SAMPLED = """
from definitions.drivers import driver_hourly_stats
from featurestore import FeatureLogging, FeatureService

sampled = FeatureService(
    name="sampled", features=[driver_hourly_stats[["conv_rate"]]], logging=FeatureLogging(sample_rate=0.25)
)
"""


def test_sample_rate(serving_repo: Served) -> None:
    (serving_repo.root / "definitions" / "sampled.py").write_text(SAMPLED)
    entities = {"driver_id": [1001]}
    with FeatureStore(serving_repo.root) as store:
        store.apply()
        response = store.get_online_features("sampled", entities)
        served = {"features": ["conv_rate"], "values": response.to_dict(), "statuses": response.statuses()}
        logger = FeatureLogger(store, seed=7)
        assert logger.services == ["ranking_logged", "sampled"]
        logger.start()
        for _ in range(400):
            logger.log("sampled", entities, None, served, time.time())
        logger.close()
    table = pq.read_table(serving_repo.root / ".featurestore" / "feature_log" / "sampled")
    assert 60 <= table.num_rows <= 140  # a quarter of 400, give or take
    assert logger.written == table.num_rows
    assert logger.dropped == 0
