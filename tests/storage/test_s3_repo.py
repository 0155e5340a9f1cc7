"""A repo whose bulk data lives on S3 (a real SeaweedFS server): the push log read by training sets, the
feature log replayed by ``verify --from-log``, lifetime-aggregate states kept between runs, and file
sources on ``s3://``. Nothing of it may land under the local ``.featurestore/``."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from featurestore import FeatureStore
from featurestore.cli import cli
from featurestore.config import StorageConfig
from featurestore.feature_logging import FeatureLogger
from featurestore.registry import partials as partials_module
from featurestore.registry.partials import PartialStore
from featurestore.storage import S3Storage, StoredObject
from tests.pit_repo import make_repo, rows, write_definitions
from tests.server.conftest import Served
from tests.storage.conftest import Bucket
from tests.test_aggregations_online import DAY, DEFS, HOUR, T1, events, same

pytestmark = pytest.mark.s3


def on_s3(root: Path, bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the repo at ``bucket`` (through the override variables, as a deployment would)."""
    monkeypatch.setenv("FEATURESTORE_STORAGE_URL", bucket.url)
    monkeypatch.setenv("FEATURESTORE_STORAGE_ENDPOINT", bucket.server.endpoint)
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # the endpoint comes from [storage]


def local_files(root: Path, folder: str) -> list[Path]:
    return sorted((root / ".featurestore" / folder).rglob("*.parquet"))


def objects(store: FeatureStore, prefix: str) -> list[StoredObject]:
    return store.storage.list(prefix)


def test_pushed_rows_on_s3_reach_the_training_set(
    serving_repo: Served, s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_s3(serving_repo.root, s3, monkeypatch)
    t = serving_repo.at + timedelta(hours=5)
    row = {"driver_id": 1007, "event_timestamp": t, "conv_rate": 0.777, "acc_rate": 0.5, "avg_daily_trips": 4}
    entity_rows = pa.table({"driver_id": [1007, 1007], "event_timestamp": [t - timedelta(microseconds=1), t]})
    with FeatureStore(serving_repo.root) as store:
        assert isinstance(store.storage, S3Storage)
        before = store.get_training_set(entity_rows, ["driver_hourly_stats:conv_rate"]).to_arrow()
        result = store.push("driver_hourly_stats", [row], to="offline")
        assert result.offline_file is not None
        assert result.offline_file.startswith(f"{s3.url}/push_log/driver_hourly_stats/")
        after = store.get_training_set(entity_rows, ["driver_hourly_stats:conv_rate"]).to_arrow()
        [pushed] = objects(store, "push_log/driver_hourly_stats")
    assert after.column("conv_rate").to_pylist() == [before.column("conv_rate")[0].as_py(), 0.777]
    assert before.column("conv_rate")[1].as_py() != 0.777
    assert pushed.key.endswith(".parquet")
    assert local_files(serving_repo.root, "push_log") == []

    # Another checkout sharing only the bucket (a notebook elsewhere) sees the pushed row too.
    with FeatureStore(serving_repo.root, config=store.config) as other:
        again = other.get_training_set(entity_rows, ["driver_hourly_stats:conv_rate"]).to_arrow()
    assert again.column("conv_rate").to_pylist()[1] == 0.777


ENTITIES = {"driver_id": [1001, 1002, 1003], "customer_id": [5001, 5002, 5003]}
REQUEST = {"quoted_fare": [10.0, 22.5, 7.0], "distance_km": [2.0, 9.0, 1.0]}


def test_feature_log_on_s3_is_replayed_by_verify_from_log(
    serving_repo: Served, s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_s3(serving_repo.root, s3, monkeypatch)
    with FeatureStore(serving_repo.root) as store:
        response = store.get_online_features("ranking_logged", ENTITIES, request_data=REQUEST)
        statuses = response.statuses()
        served = {"features": list(statuses), "values": response.to_dict(), "statuses": statuses}
        # Two loggers, as two server processes would run: their files never collide.
        loggers = [FeatureLogger(store), FeatureLogger(store)]
        for logger in loggers:
            logger.start()
            logger.log("ranking_logged", ENTITIES, REQUEST, served, time.time())
        for logger in loggers:
            logger.close()
        assert [(lg.written, lg.failed) for lg in loggers] == [(3, 0), (3, 0)]
        files = objects(store, "feature_log/ranking_logged")
        assert len(files) == 2
        table = pq.read_table(pa.BufferReader(store.storage.read_bytes(files[0].key)))
        assert table.column("ride_value__fare_per_km").to_pylist() == [5.0, 2.5, 7.0]
        checks = store.verify_log(f"{s3.url}/feature_log")
    assert local_files(serving_repo.root, "feature_log") == []
    assert len(checks) == 7
    assert all(c.rows == 6 and c.mismatches == 0 for c in checks), [(c.feature, c.examples) for c in checks]

    result = CliRunner().invoke(
        cli, ["--repo", str(serving_repo.root), "verify", "--from-log", f"{s3.url}/feature_log", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert '"driver_hourly_stats:conv_rate"' in result.stdout


def test_lifetime_states_on_s3_incremental_equals_a_fresh_full_run(
    tmp_path: Path, s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    def repo(name: str) -> FeatureStore:
        root = tmp_path / name
        for folder in ("pay", "pay_nc"):
            (root / "data" / folder).mkdir(parents=True)
            pq.write_table(events(1, 300, T1 - 5 * DAY, T1), root / "data" / folder / "0.parquet")
        return make_repo(root, DEFS)

    t2 = T1 + 3 * HOUR
    newer = events(2, 100, T1, t2)
    keys = {"customer_id": [*range(1, 13), 999]}
    refs = ["pay:*", "pay_nc:*"]

    fresh = repo("fresh")  # local states: one full run at t2
    for view in ("pay", "pay_nc"):
        pq.write_table(newer, fresh.root / "data" / view / "1.parquet")
    fresh.materialize(end=t2)
    expected = fresh.get_online_features(refs, keys, full_feature_names=True, now=t2).to_dict()
    fresh.close()

    on_s3(tmp_path / "incremental", s3, monkeypatch)
    with repo("incremental") as store:
        store.materialize(end=T1)
        pointer = store.storage.read_bytes("aggregates/pay/pointer.json")
        [first] = [o.key for o in objects(store, "aggregates/pay") if o.key.endswith(".parquet")]
        # What a killed run leaves: a file no pointer names; removed by the next commit once old enough.
        store.storage.write_bytes("aggregates/pay/killed-run.parquet", b"half")
        monkeypatch.setattr(partials_module, "ORPHAN_AGE_S", -1.0)
        for view in ("pay", "pay_nc"):
            pq.write_table(newer, store.root / "data" / view / "1.parquet")
        run = store.materialize_incremental(end=t2).runs[0]
        got = store.get_online_features(refs, keys, full_feature_names=True, now=t2).to_dict()
        states = PartialStore(store.root).current("pay", store.registry.view("pay").data_fingerprint)
        kept = [o.key for o in objects(store, "aggregates/pay") if o.key.endswith(".parquet")]
    assert run.rows_read < 400, "the incremental run read the stored states, not the whole history"
    assert got.keys() == expected.keys()
    differ = [(f, i) for f in got for i, v in enumerate(got[f]) if not same(v, expected[f][i])]
    assert not differ, differ[:10]  # equal up to float rounding (sums merged in another order)
    assert states is not None
    assert states.path.startswith(f"{s3.url}/aggregates/pay/")
    assert store.storage.read_bytes("aggregates/pay/pointer.json") != pointer
    assert kept == [states.path.removeprefix(f"{s3.url}/")]  # the replaced file and the orphan are gone
    assert first not in kept
    assert local_files(store.root, "aggregates") == []

    store.teardown(online=False)
    assert objects(store, "aggregates") == []


SOURCE_DEFS = """
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(
    name="stats", entities=[driver], ttl=timedelta(days=1),
    source=FileSource(name="stats_src", path="{path}", timestamp_field="ts"),
    features=[Feature("rate", "float64"), Feature("trips", "int64")],
)
"""


def test_a_file_source_on_s3_gives_the_training_set_of_the_same_local_file(
    tmp_path: Path, s3: Bucket
) -> None:
    from tests.pit_repo import naive, utc

    data = pa.table(
        {
            "driver_id": [1, 1, 2, 2, 3],
            "ts": pa.array([naive(2024, 1, 1, h) for h in (1, 5, 2, 9, 3)], pa.timestamp("us")),
            "rate": [0.1, 0.5, 0.2, 0.9, None],
            "trips": [1, 5, 2, 9, 3],
        }
    )
    S3Storage(s3.url, StorageConfig()).write_table("events/part-0.parquet", data)
    local = tmp_path / "local"
    (local / "data").mkdir(parents=True)
    pq.write_table(data, local / "data" / "stats.parquet")
    entity_rows = pa.table(
        {
            "driver_id": [1, 1, 2, 3, 4],
            "event_timestamp": pa.array([naive(2024, 1, 1, h) for h in (0, 6, 8, 4, 6)], pa.timestamp("us")),
        }
    )
    results = []
    for root, path in ((local, "data/stats.parquet"), (tmp_path / "remote", f"{s3.url}/events/*.parquet")):
        write_definitions(root, SOURCE_DEFS.format(path=path))
        with FeatureStore(root) as store:
            store.apply()  # the schema probe reads the source
            schema = store.registry.view("stats").source_schema
            training = store.get_training_set(entity_rows, ["stats:rate", "stats:trips"]).to_arrow()
            results.append((schema, rows(training)))
    assert results[0] == results[1]
    assert results[1][1] == [
        (1, utc(2024, 1, 1, 0), None, None),
        (1, utc(2024, 1, 1, 6), 0.5, 5),
        (2, utc(2024, 1, 1, 8), 0.2, 2),
        (3, utc(2024, 1, 1, 4), None, 3),
        (4, utc(2024, 1, 1, 6), None, None),
    ]


def test_a_logging_path_is_a_key_prefix_on_s3(
    serving_repo: Served, s3: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_s3(serving_repo.root, s3, monkeypatch)
    serving = serving_repo.root / "definitions" / "serving.py"
    text = serving.read_text().replace(
        "FeatureLogging(sample_rate=1.0)", 'FeatureLogging(sample_rate=1.0, path="served/")'
    )
    serving.write_text(text)
    with FeatureStore(serving_repo.root) as store:
        store.apply()
        response = store.get_online_features("ranking_logged", ENTITIES, request_data=REQUEST)
        statuses = response.statuses()
        logger = FeatureLogger(store)
        logger.start()
        logger.log(
            "ranking_logged",
            ENTITIES,
            REQUEST,
            {"features": list(statuses), "values": response.to_dict(), "statuses": statuses},
            time.time(),
        )
        logger.close()
        [logged] = objects(store, "served")
        checks = store.verify_log(f"{s3.url}/served/ranking_logged/")
    assert logged.key.startswith("served/ranking_logged/")
    assert objects(store, "feature_log") == []
    assert not (serving_repo.root / "served").exists()
    assert {c.rows for c in checks} == {3}
