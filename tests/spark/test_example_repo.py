"""End to end: the example repo with ``[offline] engine = "spark"``, beside the same repo on DuckDB.

The Spark copy rewrites ``definitions/customers.py``'s SQL source in Spark SQL (``dialect="spark"``, the
CSV read by absolute path); the aggregation view (``definitions/payments.py``) runs on Spark too. Both
copies get the same data and ``serving.py`` (on-demand
features and a logged service, ``tests/server/conftest.py``). Then: apply, training sets equal to
DuckDB's, materialize into SQLite and into a real Redis, ``verify`` with 0 mismatches, push, status,
feature-log replay, ``--explain`` and previews, through the API and the CLI.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from featurestore import FeatureStore
from featurestore.cli import cli
from featurestore.feature_logging import FeatureLogger
from tests.conftest import copy_example_repo
from tests.online.conftest import RedisServer
from tests.online.conftest import redis_server as redis_server  # the fixture, here by name
from tests.server.conftest import SERVING_DEFINITIONS, materialized_at
from tests.spark.conftest import SPARK_TOML, assert_same_tables

pytestmark = pytest.mark.spark

DUCKDB_PAIR_QUERY = """
            SELECT driver_id, customer_id, event_timestamp, trips_together, avg_rating_given
            FROM read_csv('data/driver_customer_stats.csv', timestampformat = '%Y-%m-%dT%H:%M:%S')
        \"\"\","""

FEATURES = [
    "driver_hourly_stats:conv_rate",
    "driver_hourly_stats:avg_daily_trips",
    "customer_profile:current_balance",
    "customer_profile:tier",
    "driver_customer_stats:trips_together",
    "driver_customer_stats:avg_rating_given",
]


def spark_pair_query(root: Path) -> str:
    """The pair view's query in Spark SQL: the same CSV, by absolute path, typed as DuckDB reads it."""
    path = (root / "data" / "driver_customer_stats.csv").as_posix()
    return f"""
            SELECT CAST(driver_id AS BIGINT) AS driver_id, CAST(customer_id AS BIGINT) AS customer_id,
                   CAST(event_timestamp AS TIMESTAMP_NTZ) AS event_timestamp,
                   CAST(trips_together AS BIGINT) AS trips_together,
                   CAST(avg_rating_given AS DOUBLE) AS avg_rating_given
            FROM csv.`{path}` WITH ('header' = 'true', 'inferSchema' = 'true')
        \"\"\",
        dialect="spark","""


def to_spark(root: Path) -> None:
    """Rewrite a copy of the example repo for the Spark engine (see the module's docstring)."""
    (root / "featurestore.toml").write_text(SPARK_TOML)
    customers = root / "definitions" / "customers.py"
    text = customers.read_text()
    assert DUCKDB_PAIR_QUERY in text
    customers.write_text(text.replace(DUCKDB_PAIR_QUERY, spark_pair_query(root)))


@dataclass(frozen=True)
class Repos:
    spark: Path
    duckdb: Path
    at: datetime


def build(root: Path, at: datetime) -> None:
    with FeatureStore(root) as store:
        store.apply()
        summary = store.materialize(end=at, views=VIEWS)
        assert summary.entities_written > 0


VIEWS = ["driver_hourly_stats", "customer_profile", "driver_customer_stats", "customer_payments"]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, spark_session: Any) -> Repos:
    """Both copies, applied and materialized into their SQLite stores at ``at``."""
    at = materialized_at()
    duckdb = copy_example_repo(
        tmp_path_factory.mktemp("example_duckdb"), days=3, drivers=12, customers=30, rows=200, end=at
    )
    (duckdb / "definitions" / "serving.py").write_text(SERVING_DEFINITIONS)
    spark = tmp_path_factory.mktemp("example_spark")
    shutil.copytree(duckdb, spark, dirs_exist_ok=True)
    to_spark(spark)
    build(duckdb, at)
    build(spark, at)
    return Repos(spark, duckdb, at)


@pytest.fixture
def repos(template: Repos, tmp_path: Path) -> Repos:
    """Private copies (tests push and log into them); the Spark copy's query keeps the template's data
    path, which holds the same bytes."""
    spark, duckdb = tmp_path / "spark", tmp_path / "duckdb"
    shutil.copytree(template.spark, spark)
    shutil.copytree(template.duckdb, duckdb)
    return Repos(spark, duckdb, template.at)


def entity_rows(root: Path) -> pa.Table:
    return pq.read_table(root / "data" / "entity_rows.parquet")


def test_training_sets_match_duckdb_row_by_row(template: Repos) -> None:
    entity = entity_rows(template.duckdb)
    request = pa.table(
        {"quoted_fare": pa.array([10.0] * entity.num_rows), "distance_km": pa.array([4.0] * entity.num_rows)}
    )
    entity = pa.Table.from_arrays(
        [*entity.columns, *request.columns], names=[*entity.column_names, *request.column_names]
    )
    with FeatureStore(template.spark) as spark, FeatureStore(template.duckdb) as duckdb:
        assert spark.engine.capabilities.dialect == "spark"
        # The services: on-demand features, and windowed aggregations (floats within README's tolerance).
        built = {}
        for features in (FEATURES, "ranking_logged", "payment_risk_v1"):
            got = spark.get_training_set(entity, features).to_arrow()
            want = duckdb.get_training_set(entity, features).to_arrow()
            assert_same_tables(got, want, float_tolerance=1e-9)
            built[str(features)] = got
        # The training set's statistics, streamed from Spark's batches, equal DuckDB's.
        profiled = [s.get_training_set(entity, "payment_risk_v1").profile() for s in (spark, duckdb)]
        assert list(profiled[0]) == list(profiled[1])
        for name in profiled[0]:
            a, b = profiled[0][name], profiled[1][name]
            assert (a.count, a.nulls, a.minimum, a.maximum) == pytest.approx(
                (b.count, b.nulls, b.minimum, b.maximum)
            )
            assert a.mean == pytest.approx(b.mean)
        table = built["ranking_logged"]
        payments = built["payment_risk_v1"]
    assert payments.column("amount_count_1h").null_count == 0  # counts are 0, never null
    assert payments.column("amount_sum_30d").null_count < entity.num_rows  # most customers paid
    assert table.num_rows == entity.num_rows == 200
    assert set(table.column("fare_per_km").to_pylist()) == {2.5}  # 10.0 / 4.0, by hand
    assert table.column("conv_rate").null_count < entity.num_rows  # most rows find a value


def test_verify_finds_no_mismatch_in_sqlite_then_after_an_incremental_run(repos: Repos) -> None:
    with FeatureStore(repos.spark) as store:
        checks = store.verify(views=VIEWS)
        assert sorted(c.view for c in checks) == sorted(VIEWS)
        assert all(c.status == "checked" and c.entities > 0 and c.failures == 0 for c in checks), checks
        # A late row lands offline: the incremental run picks it up, verify still finds 0 mismatches.
        late = {"driver_id": 1001, "event_timestamp": repos.at - timedelta(minutes=1), "created": repos.at,
                "conv_rate": 0.125, "acc_rate": 0.5, "avg_daily_trips": 41}  # fmt: skip
        store.push("driver_hourly_stats", [late], to="offline")
        summary = store.materialize_incremental(end=repos.at, views=["driver_hourly_stats"])
        assert summary.entities_written >= 1
        online = store.get_online_features(["driver_hourly_stats:conv_rate"], {"driver_id": [1001]}).to_dict()
        assert online["conv_rate"] == [0.125]
        [check] = store.verify(views=["driver_hourly_stats"])
        assert check.entities > 0
        assert check.failures == 0, check


def test_push_online_is_served_and_status_lists_the_versions(repos: Repos) -> None:
    row = {"driver_id": 1002, "event_timestamp": repos.at + timedelta(minutes=5), "created": repos.at,
           "conv_rate": 0.75, "acc_rate": 0.25, "avg_daily_trips": 3}  # fmt: skip
    with FeatureStore(repos.spark) as store:
        store.push("driver_hourly_stats", [row])
        served = store.get_online_features(
            ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"], {"driver_id": [1002]}
        ).to_dict()
        assert served["conv_rate"] == [0.75]
        assert served["avg_daily_trips"] == [3]
        status = {s.view: s for s in store.status()}
    assert set(status) >= set(VIEWS)
    assert all(status[v].status == "active" for v in VIEWS), status


def test_feature_log_replay_finds_no_skew(repos: Repos) -> None:
    entities = {"driver_id": [1001, 1002, 1003], "customer_id": [5001, 5002, 5003]}
    request = {"quoted_fare": [10.0, 22.5, 7.0], "distance_km": [2.0, 9.0, 1.0]}
    with FeatureStore(repos.spark) as store:
        response = store.get_online_features("ranking_logged", entities, request_data=request)
        statuses = response.statuses()
        served = {"features": list(statuses), "values": response.to_dict(), "statuses": statuses}
        logger = FeatureLogger(store)
        logger.start()
        logger.log("ranking_logged", entities, request, served, time.time())
        logger.close()
        checks = store.verify_log(repos.spark / ".featurestore" / "feature_log")
    assert len(checks) == 7
    assert all(c.rows == 3 and c.mismatches == 0 for c in checks), [(c.feature, c.examples) for c in checks]


def test_explain_and_preview_show_spark_sql(template: Repos) -> None:
    entity = entity_rows(template.spark).slice(0, 5)
    with FeatureStore(template.spark) as store, FeatureStore(template.duckdb) as duckdb:
        training = store.get_training_set(entity, FEATURES)
        explained = training.explain()
        preview = training.preview(3)
        assert_same_tables(preview, duckdb.get_training_set(entity, FEATURES).preview(3))
    assert "PointInTimeJoin view=driver_hourly_stats keys=['driver_id'] latest row with ts <= t" in explained
    assert "-- SQL (spark)" in explained
    assert "TIMESTAMP_NTZ" in explained  # Spark SQL, never DuckDB's ASOF join
    assert "ASOF" not in explained
    assert preview.num_rows == 3


def test_the_cli_on_spark(repos: Repos) -> None:
    runner = CliRunner()
    repo = ["--repo", str(repos.spark)]
    entities = str(repos.spark / "data" / "entity_rows.parquet")
    explained = runner.invoke(
        cli,
        [*repo, "training-set", "--entities", entities, "--features", ",".join(FEATURES[:2]), "--explain"],
    )
    assert explained.exit_code == 0, explained.output
    assert "TIMESTAMP_NTZ" in explained.stdout
    out = repos.spark / "training.parquet"
    written = runner.invoke(
        cli,
        [*repo, "training-set", "--entities", entities, "--features", ",".join(FEATURES), "--out", str(out)],
    )
    assert written.exit_code == 0, written.output
    with FeatureStore(repos.duckdb) as duckdb:
        expected = duckdb.get_training_set(entity_rows(repos.duckdb), FEATURES).to_arrow()
    assert_same_tables(pq.read_table(out), expected)
    checked = runner.invoke(cli, [*repo, "verify", "--view", "customer_profile", "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)
    status = runner.invoke(cli, [*repo, "status", "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)


def test_materialize_into_redis_and_verify(repos: Repos, redis_server: RedisServer) -> None:
    server = redis_server
    (repos.spark / "featurestore.toml").write_text(
        f'project = "spark_e2e"\n{SPARK_TOML}\n[online]\ntype = "redis"\nurl = "{server.url}"\n'
    )
    with FeatureStore(repos.spark) as store:
        store.apply()
        summary = store.materialize(end=repos.at, views=VIEWS)
        assert summary.entities_written > 0
        checks = store.verify(views=VIEWS)
        assert all(c.status == "checked" and c.entities > 0 and c.failures == 0 for c in checks), checks
        store.teardown()
