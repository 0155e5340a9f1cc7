"""Materialize -> online reads over the example repo, for every online store: the consistency contract
(0 mismatches for every entity), late rows, crashes, outages and namespace clean-up."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from featurestore.errors import EntityRowsError, OnlineStoreError, UnknownFeatureError
from featurestore.registry.files_backend import FilesBackend
from tests.online.conftest import STORE_KINDS, RedisClusterNodes, RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]

RepoFactory = Callable[..., FeatureStore]


def _config(kind: str, project: str, request: pytest.FixtureRequest, **extra: str) -> str:
    lines = [f'project = "{project}"', "", "[online]"]
    if kind == "sqlite":
        lines.append('type = "sqlite"')
    else:
        server: RedisServer | RedisClusterNodes = request.getfixturevalue(
            "redis_server" if kind == "redis" else "redis_cluster"
        )
        lines += [f'type = "{kind}"', f'url = "{server.url}"']
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def make_repo(example_repo: Path, request: pytest.FixtureRequest) -> RepoFactory:
    project = "e2e_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]

    def build(kind: str = "sqlite", batch_size: int | None = None, **online: str) -> FeatureStore:
        text = _config(kind, project, request, **online)
        if batch_size:
            text += f"\n[materialize]\nbatch_size = {batch_size}\n"
        (example_repo / "featurestore.toml").write_text(text)
        store = FeatureStore(example_repo)
        store.apply()
        return store

    return build


def all_keys(store: FeatureStore, view: str) -> dict[str, list[object]]:
    keys = store.registry.view(view).view.join_keys
    table = store.engine.to_arrow(
        "SELECT DISTINCT " + ", ".join(keys) + f" FROM ({_source_sql(store, view)}) ORDER BY ALL"
    )
    return {k: table.column(k).to_pylist() for k in keys}


def _source_sql(store: FeatureStore, view: str) -> str:
    from sqlglot import exp

    from featurestore.plan.build import scan_for
    from featurestore.sql.duckdb import source_table

    return exp.select("*").from_(source_table(scan_for(store.registry.view(view), store.root))).sql("duckdb")


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_every_entity_online_equals_the_training_set_at_the_watermark(
    make_repo: RepoFactory, kind: str
) -> None:
    store = make_repo(kind)
    summary = store.materialize()
    assert {r.view for r in summary.runs} == {
        "driver_hourly_stats",
        "customer_profile",
        "driver_customer_stats",
        "customer_payments",
    }
    assert summary.entities_written > 0
    assert summary.rows_read >= summary.entities_written
    checks = store.verify(sample=None)
    assert {c.view for c in checks} == {r.view for r in summary.runs}
    for check in checks:
        assert check.entities > 0, check.view
        assert check.failures == 0, (check.view, check.examples)

    keys = all_keys(store, "driver_hourly_stats")
    response = store.get_online_features(
        ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"], keys
    )
    assert len(response) == len(keys["driver_id"])
    assert set(response.statuses()["conv_rate"]) == {"PRESENT"}
    store.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_reads_for_unknown_entities_wrong_types_and_unknown_features(
    make_repo: RepoFactory, kind: str
) -> None:
    store = make_repo(kind)
    store.materialize(views=["driver_hourly_stats"])
    response = store.get_online_features(["driver_hourly_stats:conv_rate"], [{"driver_id": 99_999_999}])
    assert response.to_dict()["conv_rate"] == [None]
    assert response.statuses()["conv_rate"] == ["NOT_FOUND"]
    with pytest.raises(EntityRowsError, match="driver_id"):
        store.get_online_features(["driver_hourly_stats:conv_rate"], [{"driver_id": "1001"}])
    with pytest.raises(EntityRowsError, match="driver_id"):
        store.get_online_features(["driver_hourly_stats:conv_rate"], [{"customer_id": 5001}])
    with pytest.raises(UnknownFeatureError, match="Did you mean 'conv_rate'"):
        store.get_online_features(["driver_hourly_stats:conv_rat"], [{"driver_id": 1001}])
    store.close()


def _append_rows(path: Path, rows: pa.Table) -> None:
    table = pq.read_table(path)
    pq.write_table(pa.concat_tables([table, rows.select(table.column_names).cast(table.schema)]), path)


def _driver_rows(
    ids: list[int | None], event: list[datetime | None], created: datetime, rate: float
) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "driver_id": pa.array(ids, pa.int64()),
            "event_timestamp": pa.array(event, pa.timestamp("us")),
            "created": pa.array([created] * n, pa.timestamp("us")),
            "conv_rate": [rate] * n,
            "acc_rate": [rate] * n,
            "avg_daily_trips": [7] * n,
        }
    )


def test_incremental_runs_pick_up_late_rows_and_never_let_older_values_win(make_repo: RepoFactory) -> None:
    store = make_repo("sqlite")
    source = store.root / "data" / "driver_hourly_stats.parquet"
    now = datetime.now(UTC).replace(tzinfo=None)
    first = store.materialize_incremental(end=now)
    assert first.runs
    assert FilesBackend(store.root).watermark("driver_hourly_stats", _fp(store)) is not None

    latest = store.get_online_features(["driver_hourly_stats:conv_rate"], [{"driver_id": 1001}], now=now)
    stamp = latest.event_timestamps()["conv_rate"][0]
    assert stamp is not None
    stamp = stamp.replace(tzinfo=None)
    # A late row: event time before the watermark but newer than the online value, created now.
    _append_rows(
        source, _driver_rows([1001], [stamp + timedelta(seconds=1)], now + timedelta(seconds=5), 0.5)
    )
    # An even later row that is older than the online value must not replace it.
    _append_rows(
        source, _driver_rows([1002], [now - timedelta(days=1, hours=5)], now + timedelta(seconds=5), 0.25)
    )
    before_1002 = store.get_online_features(["driver_hourly_stats:conv_rate"], [{"driver_id": 1002}], now=now)

    second = store.materialize_incremental(end=now + timedelta(seconds=10), views=["driver_hourly_stats"])
    first_run = next(r for r in first.runs if r.view == "driver_hourly_stats")
    assert second.runs[0].rows_read < first_run.rows_read / 10  # only what changed is re-read
    after = store.get_online_features(
        ["driver_hourly_stats:conv_rate"], [{"driver_id": 1001}, {"driver_id": 1002}]
    )
    assert after.to_dict()["conv_rate"][0] == 0.5
    assert after.to_dict()["conv_rate"][1] == before_1002.to_dict()["conv_rate"][0]
    assert all(c.failures == 0 for c in store.verify(sample=None, views=["driver_hourly_stats"]))
    store.close()


def _fp(store: FeatureStore) -> str:
    return store.registry.view("driver_hourly_stats").data_fingerprint


def test_rows_with_null_keys_or_times_are_skipped_and_counted(make_repo: RepoFactory) -> None:
    store = make_repo("sqlite")
    now = datetime.now(UTC).replace(tzinfo=None)
    source = store.root / "data" / "driver_hourly_stats.parquet"
    _append_rows(source, _driver_rows([None, None, 1003], [now - timedelta(hours=1), None, None], now, 0.9))
    summary = store.materialize(end=now, views=["driver_hourly_stats"])
    assert summary.rows_skipped == 3
    assert all(c.failures == 0 for c in store.verify(sample=None, views=["driver_hourly_stats"]))
    store.close()


def test_a_backfill_of_older_values_never_replaces_newer_ones(make_repo: RepoFactory) -> None:
    store = make_repo("sqlite")
    now = datetime.now(UTC).replace(tzinfo=None)
    store.materialize(end=now, views=["driver_hourly_stats"])
    keys = all_keys(store, "driver_hourly_stats")
    before = store.get_online_features(["driver_hourly_stats:*"], keys, now=now).to_dict()
    store.materialize(end=now - timedelta(hours=12), views=["driver_hourly_stats"])  # an older backfill
    after = store.get_online_features(["driver_hourly_stats:*"], keys, now=now).to_dict()
    assert after == before
    mark = FilesBackend(store.root).watermark("driver_hourly_stats", _fp(store))
    assert mark is not None
    assert mark.event_time == now
    store.close()


@pytest.mark.parametrize("kind", [pytest.param("redis", marks=pytest.mark.redis)])
def test_an_unreachable_store_fails_fast_and_advances_no_watermark(make_repo: RepoFactory, kind: str) -> None:
    store = make_repo(kind)
    dead = f"redis://127.0.0.1:{free_port()}/0"
    (store.root / "featurestore.toml").write_text(
        f'project = "{store.project}"\n[online]\ntype = "redis"\nurl = "{dead}"\n'
        "connect_timeout = 0.5\nread_timeout = 0.5\n"
    )
    broken = FeatureStore(store.root)
    started = time.monotonic()
    with pytest.raises(OnlineStoreError, match=r"127\.0\.0\.1"):
        broken.materialize()
    assert time.monotonic() - started < 10
    assert FilesBackend(store.root).watermarks() == {}
    # The server is back (the fixture's): a rerun completes and the contract holds.
    healthy = FeatureStore(store.root.parent / store.root.name, config=store.config)
    healthy.materialize()
    assert all(c.failures == 0 for c in healthy.verify(sample=200))
    healthy.close()
    broken.close()


KILL_SCRIPT = """
import os, signal, sys
from datetime import datetime
from featurestore import FeatureStore

store = FeatureStore(sys.argv[1])
end = datetime.fromisoformat(sys.argv[2])
batches = {"n": 0}

def die_midway(view, written):
    batches["n"] += 1
    if view == "driver_customer_stats" and batches["n"] >= 3:
        os.kill(os.getpid(), signal.SIGKILL)

store.materialize(end=end, progress=die_midway)
"""


def _online_dump(store: FeatureStore, now: datetime) -> dict[str, dict[str, list[object]]]:
    dump = {}
    for view in sorted(store.registry.views):
        keys = all_keys(store, view)
        response = store.get_online_features([f"{view}:*"], keys, now=now)
        dump[view] = {**response.to_dict(), **{f"{k}__status": v for k, v in response.statuses().items()}}
    return dump


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_sigkill_midway_then_rerun_equals_one_clean_run(make_repo: RepoFactory, kind: str) -> None:
    store = make_repo(kind, batch_size=500)
    end = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(store.root), end.isoformat()],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    state = FilesBackend(store.root)
    pair = store.registry.view("driver_customer_stats")
    assert state.watermark("driver_customer_stats", pair.data_fingerprint) is None  # not fully written
    store.materialize(end=end)  # the rerun
    rerun = _online_dump(store, end)

    clean = make_repo(kind, batch_size=500)  # same definitions, a repo (and namespaces) of its own
    clean.materialize(end=end)
    assert _online_dump(clean, end) == rerun
    assert all(c.failures == 0 for c in clean.verify(sample=None))
    store.close()
    clean.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_data_change_keeps_serving_then_switches_and_removed_views_are_deleted(
    make_repo: RepoFactory, kind: str
) -> None:
    store = make_repo(kind)
    store.materialize()
    old = store.state.active("driver_hourly_stats")
    assert old is not None
    count = store.online_store.count_keys(old.namespace)
    assert count > 0
    before = store.get_online_features(["driver_hourly_stats:conv_rate"], [{"driver_id": 1001}]).to_dict()
    drivers = store.root / "definitions" / "drivers.py"
    drivers.write_text(drivers.read_text().replace("timedelta(days=2)", "timedelta(days=3)"))
    store.apply()
    # The changed view's new version is pending: reads keep using the active one, untouched.
    pending = [r for r in store.state.versions("driver_hourly_stats") if r.status == "pending"]
    assert len(pending) == 1
    assert pending[0].fingerprint == _fp(store) != old.fingerprint
    after = store.get_online_features(["driver_hourly_stats:conv_rate"], [{"driver_id": 1001}])
    assert after.to_dict() == before
    assert after.statuses()["conv_rate"] == ["PRESENT"]
    assert store.online_store.count_keys(old.namespace) == count
    store.materialize(views=["driver_hourly_stats"])  # complete: the switch, then the old one goes
    new = store.state.active("driver_hourly_stats")
    assert new is not None
    assert new.version == pending[0].version
    assert store.online_store.count_keys(old.namespace) == 0
    assert store.online_store.count_keys(new.namespace) == count
    assert [c.mismatches for c in store.verify(sample=None, views=["driver_hourly_stats"])] == [0]
    # A removed view's values are deleted, and so are its records.
    pair = store.state.active("driver_customer_stats")
    assert pair is not None
    assert store.online_store.count_keys(pair.namespace) > 0
    (store.root / "definitions" / "services.py").unlink()
    customers = store.root / "definitions" / "customers.py"
    text = customers.read_text()
    customers.write_text(text[: text.index("# A composite key")])
    store.apply()
    assert store.online_store.count_keys(pair.namespace) == 0
    assert store.state.versions("driver_customer_stats") == []
    store.close()


def test_a_reading_store_sees_another_stores_apply_within_the_recheck_bound(make_repo: RepoFactory) -> None:
    """Files are looked at every ``FILES_RECHECK`` seconds, not on every read; a store's own apply is
    seen at once."""
    from featurestore.store import FILES_RECHECK

    writer = make_repo("sqlite")
    reader = FeatureStore(writer.root)
    features, rows = ["driver_hourly_stats:conv_rate"], [{"driver_id": 1001}]
    reader.get_online_features(features, rows)
    before = reader.registry
    assert before.view("driver_hourly_stats").view.ttl == timedelta(days=2)
    drivers = writer.root / "definitions" / "drivers.py"
    drivers.write_text(drivers.read_text().replace("timedelta(days=2)", "timedelta(days=3)"))
    writer.apply()
    assert writer.registry.view("driver_hourly_stats").view.ttl == timedelta(days=3)  # its own: at once
    began = time.monotonic()
    while reader.registry is before and time.monotonic() - began < FILES_RECHECK + 1:
        reader.get_online_features(features, rows)
        time.sleep(0.002)
    seen = time.monotonic() - began
    assert reader.registry.view("driver_hourly_stats").view.ttl == timedelta(days=3)
    assert seen <= FILES_RECHECK + 0.25, f"the reader saw the apply after {seen:.3f} s"
    reader.close()
    writer.close()
