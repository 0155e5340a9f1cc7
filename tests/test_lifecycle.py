"""The online lifecycle on hand-checked data: pending and active versions, promotion, the project, races
with apply, stores that lose their data, bounded time, expired rows, overwrite, teardown, old state files.

The repo: one view ``stats`` (rate, trips) of three drivers. Driver 1 changes value one hour before ``T``,
driver 2 has one row, driver 3 only a row after ``T - 1h``::

    driver  event time   rate  trips
    1       T - 3h       0.1   10
    1       T - 1h       0.2   20
    2       T - 2h       0.5   50
    3       T - 30min    0.9   90
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from featurestore import FeatureStore
from featurestore.cli import cli
from featurestore.errors import FutureTimeError, MaterializationError, UnknownFeatureError
from featurestore.registry.files_backend import FilesBackend
from tests.online.conftest import require_redis, start_redis
from tests.pit_repo import make_repo, write_data

H = timedelta(hours=1)
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
T = NOW - H  # materialized up to here
ROWS = {
    "driver_id": [1, 1, 2, 3],
    "event_timestamp": [T - 3 * H, T - H, T - 2 * H, T - H / 2],
    "rate": [0.1, 0.2, 0.5, 0.9],
    "trips": [10, 20, 50, 90],
}
DEFS = """
driver = Entity(name="driver", join_keys=["driver_id"])
src = FileSource(name="stats", path="data/stats.parquet", timestamp_field="event_timestamp")
stats = FeatureView(name="stats", entities=[driver], source=src, ttl=timedelta(days=3),
                    features=[Feature("rate", "float64"), Feature("trips", "int64")])
"""
KINDS = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]
ALL = {"driver_id": [1, 2, 3]}


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_redis()
    server = start_redis(tmp_path_factory.mktemp("lifecycle-redis"))
    yield server.url
    server.stop()


def _config(kind: str, request: pytest.FixtureRequest, project: str | None = None) -> str:
    project = project or "l_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    text = f'project = "{project}"\n\n[online]\n'
    if kind == "sqlite":
        return text + 'type = "sqlite"\n'
    return text + f'type = "redis"\nurl = "{request.getfixturevalue("redis_url")}"\n'


def _repo(tmp_path: Path, kind: str, request: pytest.FixtureRequest, defs: str = DEFS) -> FeatureStore:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "featurestore.toml").write_text(_config(kind, request))
    return make_repo(tmp_path, defs, {"data/stats.parquet": ROWS})


def _edit(store: FeatureStore, old: str, new: str) -> None:
    path = store.root / "definitions" / "defs.py"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _read(store: FeatureStore, *features: str) -> tuple[dict[str, list[Any]], dict[str, list[str]]]:
    response = store.get_online_features([f"stats:{f}" for f in features], ALL)
    return response.to_dict(), response.statuses()


def _total_values(store: FeatureStore, kind: str) -> int:
    """Every value in the online store, whatever namespace (nothing may be left behind; markers and
    sweep records are bookkeeping)."""
    if kind == "sqlite":
        with sqlite3.connect(store.root / ".featurestore" / "online.db") as conn:
            count: int = conn.execute("SELECT count(*) FROM online_values").fetchone()[0]
            return count
    import redis

    client = redis.Redis.from_url(store.config.online.url)
    prefix = f"fs:{store.config.project}:"
    try:
        found = client.scan_iter(match=prefix + "*", count=1000)
        return sum(1 for k in found if not k.endswith((b":marker", b":sweep")))
    finally:
        client.close()


def _versions(store: FeatureStore) -> list[tuple[str, str]]:
    return [(r.status, r.fingerprint) for r in store.state.versions("stats")]


# -- a change keeps serving until its version catches up ----------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_data_change_is_served_from_the_active_version_until_the_new_one_catches_up(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    store = _repo(tmp_path, kind, request)
    store.materialize(end=T)
    before = store.state.active("stats")
    assert before is not None
    assert _read(store, "rate", "trips") == (
        {"driver_id": [1, 2, 3], "rate": [0.2, 0.5, 0.9], "trips": [20, 50, 90]},
        {"rate": ["PRESENT"] * 3, "trips": ["PRESENT"] * 3},
    )
    # Rename trips -> rides and shorten the ttl: a data change.
    _edit(store, "ttl=timedelta(days=3)", "ttl=timedelta(days=2)")
    _edit(store, 'Feature("trips", "int64")', 'Feature("rides", "int64")')
    write_data(tmp_path, "data/stats.parquet", {**{k: v for k, v in ROWS.items() if k != "trips"},
                                                "rides": ROWS["trips"]})  # fmt: skip
    store.apply()
    new_fp = store.registry.view("stats").data_fingerprint
    assert _versions(store) == [("active", before.fingerprint), ("pending", new_fp)]
    # rate is served from the active version, unchanged; rides is new: read from the (empty) pending one.
    assert _read(store, "rate", "rides") == (
        {"driver_id": [1, 2, 3], "rate": [0.2, 0.5, 0.9], "rides": [None, None, None]},
        {"rate": ["PRESENT"] * 3, "rides": ["NOT_FOUND"] * 3},
    )
    with pytest.raises(UnknownFeatureError, match="trips"):  # the old name left the definitions
        _read(store, "trips")
    # Materialized only up to T - 1h: behind the active version (T), so it stays pending.
    run = store.materialize(end=T - H).runs[0]
    assert run.pending
    assert not run.promoted
    assert any("stays pending" in n for n in run.notes)
    assert _read(store, "rate")[0]["rate"] == [0.2, 0.5, 0.9]
    with pytest.raises(MaterializationError, match="--force"):
        store.promote("stats")
    # Caught up: the switch, then the old namespace is deleted.
    run = store.materialize(end=T).runs[0]
    assert run.promoted
    after = store.state.active("stats")
    assert after is not None
    assert after.fingerprint == new_fp
    assert _versions(store) == [("active", new_fp)]
    assert store.online_store.count_keys(before.namespace) == 0
    assert store.online_store.count_keys(after.namespace) == 3
    assert _read(store, "rate", "rides") == (
        {"driver_id": [1, 2, 3], "rate": [0.2, 0.5, 0.9], "rides": [20, 50, 90]},
        {"rate": ["PRESENT"] * 3, "rides": ["PRESENT"] * 3},
    )
    assert _total_values(store, kind) == 3


def test_promote_force_switches_to_a_pending_version_behind_the_active_one(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _repo(tmp_path, "sqlite", request)
    store.materialize(end=T)
    _edit(store, "ttl=timedelta(days=3)", "ttl=timedelta(days=2)")
    store.apply()
    store.materialize(end=T - H)  # driver 3's row (T - 30 min) is not in it yet
    result = CliRunner().invoke(cli, ["--repo", str(tmp_path), "promote", "stats"])
    assert result.exit_code == 1
    assert "--force" in result.output
    result = CliRunner().invoke(cli, ["--repo", str(tmp_path), "promote", "stats", "--force"])
    assert result.exit_code == 0, result.output
    assert "promoted" in result.output
    values, statuses = _read(store, "rate")
    assert values["rate"] == [0.2, 0.5, None]
    assert statuses["rate"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
    assert [s for s, _ in _versions(store)] == ["active"]
    assert _total_values(store, "sqlite") == 2


def test_a_view_never_materialized_takes_a_new_definition_at_once(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _repo(tmp_path, "sqlite", request)
    _edit(store, "ttl=timedelta(days=3)", "ttl=timedelta(days=2)")
    store.apply()  # nothing was ever served: no pending version waits behind an empty one
    assert _versions(store) == [("active", store.registry.view("stats").data_fingerprint)]


# -- plan -----------------------------------------------------------------------------------------------


def test_plan_shows_each_changed_property_old_to_new_and_what_it_does_online(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _repo(tmp_path, "sqlite", request)
    write_data(tmp_path, "data/stats.parquet", {**ROWS, "rides": ROWS["trips"], "score": ROWS["rate"]})
    _edit(store, "ttl=timedelta(days=3)", "ttl=timedelta(hours=2)")
    _edit(store, 'Feature("trips", "int64")', 'Feature("rides", "int64"), Feature("score", "float64")')
    change = store.plan().changes[0]
    assert (change.kind, change.object_type, change.name) == ("data", "feature view", "stats")
    assert change.detail == "features -trips +rides +score; ttl 3d -> 2h"
    assert "active one keeps serving" in change.consequence
    result = CliRunner().invoke(cli, ["--repo", str(tmp_path), "plan"])
    assert result.exit_code == 0, result.output
    assert "features -trips +rides +score; ttl 3d -> 2h" in result.output
    assert "data change" in result.output
    # A metadata-only change moves nothing online.
    _edit(store, 'Feature("rides", "int64"), Feature("score", "float64")', 'Feature("trips", "int64")')
    _edit(store, "ttl=timedelta(hours=2)", 'ttl=timedelta(days=3), description="per driver"')
    change = store.plan().changes[0]
    assert (change.kind, change.detail, change.consequence) == (
        "metadata",
        "description '' -> 'per driver'",
        "nothing moves online",
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_project_change_is_planned_applied_and_served_without_a_gap(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    store = _repo(tmp_path, kind, request)
    store.materialize(end=T)
    old = store.state.active("stats")
    assert old is not None
    config = tmp_path / "featurestore.toml"
    new_project = old.project + "_b"
    config.write_text(config.read_text().replace(f'"{old.project}"', f'"{new_project}"'))
    store = FeatureStore(tmp_path)
    diff = store.plan()
    assert [(c.kind, c.object_type, c.name, c.detail) for c in diff.changes] == [
        ("data", "project", new_project, f"project {old.project!r} -> {new_project!r}"),
    ]
    store.apply()
    assert store.registry.project == new_project  # applied now, not at some later unrelated edit
    values, statuses = _read(store, "rate", "trips")
    assert statuses == {"rate": ["PRESENT"] * 3, "trips": ["PRESENT"] * 3}  # still the old project's keys
    assert values["rate"] == [0.2, 0.5, 0.9]
    store.materialize(end=T)
    new = store.state.active("stats")
    assert new is not None
    assert new.project == new_project
    assert store.online_store.count_keys(old.namespace) == 0
    assert store.online_store.count_keys(new.namespace) == 3
    assert _read(store, "rate")[1] == {"rate": ["PRESENT"] * 3}


# -- races with apply ------------------------------------------------------------------------------------


def _paused_materialize(
    store: FeatureStore, view_name: str = "stats"
) -> tuple[threading.Thread, threading.Event, threading.Event]:
    """A full materialization in a thread that stops after the first batch of ``view_name`` until
    released."""
    first, release = threading.Event(), threading.Event()
    original = store.online_store.write_batches

    def slow(view: Any, batches: Any) -> Iterator[int]:
        for i, written in enumerate(original(view, batches)):
            yield written
            if i == 0 and view.name == view_name:
                first.set()
                assert release.wait(30)

    store.online_store.write_batches = slow  # type: ignore[method-assign]
    errors: list[BaseException] = []

    def run() -> None:
        try:
            store.materialize(end=T)
        except BaseException as exc:  # surfaced by the test
            errors.append(exc)
            first.set()

    thread = threading.Thread(target=run)
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    assert first.wait(30)
    return thread, release, first


BIG = {
    "driver_id": list(range(1, 2001)),
    "event_timestamp": [T - H] * 2000,
    "rate": [i / 10 for i in range(2000)],
    "trips": list(range(2000)),
}


@pytest.mark.parametrize("kind", KINDS)
def test_apply_during_materialize_then_materialize_leaves_exactly_a_clean_run(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    (tmp_path / "featurestore.toml").write_text(
        _config(kind, request) + "\n[materialize]\nbatch_size = 500\n"
    )
    store = make_repo(tmp_path, DEFS, {"data/stats.parquet": BIG})
    writer = FeatureStore(tmp_path)
    thread, release, _ = _paused_materialize(writer)
    _edit(store, "ttl=timedelta(days=3)", "ttl=timedelta(days=2)")
    store.apply()  # the running version is being written: the new one waits as pending
    release.set()
    thread.join(60)
    assert not thread.errors  # type: ignore[attr-defined]
    assert [s for s, _ in _versions(store)] == ["active", "pending"]
    store.materialize(end=T)
    assert [s for s, _ in _versions(store)] == ["active"]
    assert _total_values(store, kind) == 2000  # one version's worth: nothing left behind
    assert [c.failures for c in store.verify(sample=None)] == [0]
    writer.close()


@pytest.mark.parametrize("kind", KINDS)
def test_a_view_removed_during_its_materialization_leaves_nothing_behind(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    (tmp_path / "featurestore.toml").write_text(
        _config(kind, request) + "\n[materialize]\nbatch_size = 500\n"
    )
    other = """
    rider = Entity(name="rider", join_keys=["driver_id"])
    other_src = FileSource(name="other_src", path="data/stats.parquet", timestamp_field="event_timestamp")
    other = FeatureView(name="other", entities=[rider], source=other_src, ttl=None,
                        features=[Feature("rate", "float64")])
    """
    store = make_repo(tmp_path, {"defs.py": DEFS, "other.py": other}, {"data/stats.parquet": BIG})
    writer = FeatureStore(tmp_path)
    thread, release, _ = _paused_materialize(writer)
    (tmp_path / "definitions" / "defs.py").unlink()
    store.apply()  # retired while a run writes it: not deleted under the writer's feet, nor forgotten
    assert [r.status for r in store.state.versions("stats")] == ["retired"]
    release.set()
    thread.join(60)
    assert not thread.errors  # type: ignore[attr-defined]
    assert store.state.versions("stats") == []
    assert _total_values(store, kind) == 2000  # only the other view's values
    writer.close()


def test_a_run_started_before_a_view_was_removed_skips_it(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    other = """
    rider = Entity(name="rider", join_keys=["driver_id"])
    other_src = FileSource(name="other_src", path="data/stats.parquet", timestamp_field="event_timestamp")
    other = FeatureView(name="other", entities=[rider], source=other_src, ttl=None,
                        features=[Feature("rate", "float64")])
    """
    (tmp_path / "featurestore.toml").write_text(
        _config("sqlite", request) + "\n[materialize]\nbatch_size = 500\n"
    )
    store = make_repo(tmp_path, {"defs.py": DEFS, "other.py": other}, {"data/stats.parquet": BIG})
    writer = FeatureStore(tmp_path)
    writer.registry  # the run's registry is read now, with both views  # noqa: B018
    thread, release, _ = _paused_materialize(writer, "other")  # "other" runs first, then "stats"
    (tmp_path / "definitions" / "defs.py").unlink()
    store.apply()
    release.set()
    thread.join(60)
    assert not thread.errors  # type: ignore[attr-defined]
    assert store.state.versions("stats") == []  # not re-created by the run that still knew it
    assert _total_values(store, "sqlite") == 2000
    writer.close()


# -- stores that lose what they held -----------------------------------------------------------------------


@pytest.mark.redis
def test_a_flushed_redis_is_noticed_and_the_next_incremental_run_is_full(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import redis

    store = _repo(tmp_path, "redis", request)
    store.materialize(end=T)
    client = redis.Redis.from_url(store.config.online.url)
    for key in client.scan_iter(match=f"fs:{store.config.project}:*"):  # a flush of this repo's keys
        client.delete(key)
    client.close()
    status = store.status()
    assert [(s.status, s.store, s.keys) for s in status] == [("active", "missing", 0)]
    assert "materialize-incremental" in status[0].problems[0]
    result = CliRunner().invoke(cli, ["--repo", str(tmp_path), "status"])
    assert result.exit_code == 1
    run = store.materialize_incremental(end=T).runs[0]
    assert run.entities_written == 3
    assert "holds nothing" in run.notes[0]
    assert [c.failures for c in store.verify(sample=None)] == [0]
    assert [(s.store, s.keys) for s in store.status()] == [("ok", 3)]


@pytest.mark.redis
def test_switching_from_sqlite_to_redis_rewrites_what_the_new_store_lacks(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _repo(tmp_path, "sqlite", request)
    store.materialize(end=T)
    config = tmp_path / "featurestore.toml"
    config.write_text(_config("redis", request))
    store = FeatureStore(tmp_path)
    run = store.materialize_incremental(end=T).runs[0]
    assert run.entities_written == 3
    assert "holds nothing" in run.notes[0]
    assert _read(store, "rate")[1] == {"rate": ["PRESENT"] * 3}


def test_a_store_restored_from_an_older_copy_is_reread_from_where_it_stands(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _repo(tmp_path, "sqlite", request)
    store.materialize(end=T - 2 * H)
    db = tmp_path / ".featurestore" / "online.db"
    backup = tmp_path / "backup.db"
    with sqlite3.connect(db) as live, sqlite3.connect(backup) as copy:
        live.backup(copy)  # the backup is taken here
    store.materialize_incremental(end=T)
    store.close()
    with sqlite3.connect(backup) as copy, sqlite3.connect(db) as live:
        copy.backup(live)  # ... and restored here
    store = FeatureStore(tmp_path)
    assert [s.store for s in store.status()] == ["behind"]
    run = store.materialize_incremental(end=T).runs[0]
    assert "only up to" in run.notes[0]
    assert _read(store, "rate")[0]["rate"] == [0.2, 0.5, 0.9]
    assert [c.failures for c in store.verify(sample=None)] == [0]


# -- time ----------------------------------------------------------------------------------------------


def test_an_end_or_pushed_rows_in_the_future_are_refused_before_anything_changes(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _repo(tmp_path, "sqlite", request)
    store.materialize(end=T)
    state = (tmp_path / ".featurestore" / "state.json").read_bytes()
    with pytest.raises(FutureTimeError, match="9999-12-31"):
        store.materialize(end=datetime(9999, 12, 31))
    with pytest.raises(FutureTimeError, match="clock skew"):
        store.materialize_incremental(end=NOW + timedelta(hours=1))
    with pytest.raises(FutureTimeError, match="9000-01-01"):
        store.push(
            "stats", [{"driver_id": 1, "event_timestamp": datetime(9000, 1, 1), "rate": 9.0, "trips": 9}]
        )
    assert (tmp_path / ".featurestore" / "state.json").read_bytes() == state
    assert _read(store, "rate")[0]["rate"] == [0.2, 0.5, 0.9]
    # Within the allowance (a host whose clock is a little behind): accepted.
    store.push("stats", [{"driver_id": 1, "event_timestamp": datetime.now(UTC) + timedelta(minutes=1),
                          "rate": 7.0, "trips": 7}])  # fmt: skip
    result = CliRunner().invoke(cli, ["--repo", str(tmp_path), "materialize", "--end", "9999-12-31"])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0  # one red line
    assert "FutureTimeError" in result.output


def test_rows_expired_by_the_wall_clock_are_counted_and_reported(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _repo(tmp_path, "sqlite", request, DEFS.replace("timedelta(days=3)", "timedelta(minutes=175)"))
    # At T the latest rows of drivers 1 (T - 1h), 2 (T - 2h) and 3 (T - 30 min) are within the 175 min
    # ttl, but by the wall clock (T + 1h) driver 2's has run out: counted, not written (driver 1's has
    # 55 min left when the module is imported: room for a slow suite).
    run = store.materialize(end=T).runs[0]
    assert (run.rows_expired, run.entities_written) == (1, 2)
    assert "1 row already expired by now (ttl 175m): not written" in run.notes
    result = CliRunner().invoke(
        cli, ["--repo", str(tmp_path), "materialize", "--end", T.isoformat(), "--json"]
    )
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)["views"][0]
    assert (view["rows_expired"], view["entities_written"]) == (1, 2)
    assert [(c.matches, c.expired, c.failures) for c in store.verify(sample=None)] == [(2, 1, 0)]


def test_overwrite_rewrites_as_of_an_earlier_time_and_replaces_the_served_version(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _repo(tmp_path, "sqlite", request)
    store.materialize(end=T)
    served = store.state.active("stats")
    assert served is not None
    summary = store.materialize(end=T - 2 * H, overwrite=True)  # before driver 1's second row and driver 3
    assert summary.runs[0].promoted
    values, statuses = _read(store, "rate")
    assert values["rate"] == [0.1, 0.5, None]
    assert statuses["rate"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
    active = store.state.active("stats")
    assert active is not None
    assert active.watermark is not None
    assert active.watermark.event_time == T - 2 * H  # moved back, as asked
    assert store.online_store.count_keys(served.namespace) == 0
    assert [c.failures for c in store.verify(sample=None)] == [0]


# -- teardown and old state files ----------------------------------------------------------------------------


def test_teardown_asks_then_removes_this_repos_values_and_state(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _repo(tmp_path, "sqlite", request)
    store.materialize(end=T)
    root = str(tmp_path)
    result = CliRunner().invoke(cli, ["--repo", root, "teardown"], input="n\n")
    assert result.exit_code == 1
    assert _total_values(store, "sqlite") == 3
    result = CliRunner().invoke(cli, ["--repo", root, "teardown", "--online", "--yes"])
    assert result.exit_code == 0, result.output
    assert _total_values(store, "sqlite") == 0
    record = store.state.active("stats")
    assert record is not None
    assert record.watermark is None  # kept, without a watermark: the next incremental run is full
    assert store.materialize_incremental(end=T).runs[0].entities_written == 3
    result = CliRunner().invoke(cli, ["--repo", root, "teardown", "--yes"])
    assert result.exit_code == 0, result.output
    assert "3 values deleted" in result.output
    assert (_total_values(store, "sqlite"), store.state.versions()) == (0, [])


def test_a_state_file_of_the_first_format_is_upgraded(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = _repo(tmp_path, "sqlite", request)
    fingerprint = store.registry.view("stats").data_fingerprint
    project = store.registry.project
    # What the first format wrote: namespaces named by the bare fingerprint, an old one left over.
    from featurestore.online import OnlineView

    old = OnlineView(project=project, name="stats", version="0ld", join_keys=("driver_id",),
                     key_dtypes=("int64",), features=(("rate", "float64"),), ttl=None)  # fmt: skip
    import pyarrow as pa

    store.online_store.write(old, pa.table({"driver_id": [1], "__event_ts": pa.array([T], pa.timestamp("us")),
                                            "rate": [1.0]}))  # fmt: skip
    mark = {"version": fingerprint, "event_time": T.isoformat(), "created_time": None,
            "updated_at": NOW.isoformat(), "entities_written": 3}  # fmt: skip
    state = {"watermarks": {"stats": mark}, "namespaces": {"stats": ["0ld", fingerprint]}}
    (tmp_path / ".featurestore" / "state.json").write_text(json.dumps(state))
    records = FilesBackend(tmp_path).versions("stats")
    assert sorted((r.status, r.version, r.project) for r in records) == [
        ("active", fingerprint, project),
        ("retired", "0ld", project),
    ]
    assert store.delete_retired() == 1
    assert [(r.status, r.version) for r in FilesBackend(tmp_path).versions("stats")] == [
        ("active", fingerprint)
    ]


def test_status_lists_versions_with_freshness_keys_and_json(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store = _repo(tmp_path, "sqlite", request)
    store.materialize(end=T)
    _edit(store, "ttl=timedelta(days=3)", "ttl=timedelta(days=2)")
    store.apply()
    result = CliRunner().invoke(cli, ["--repo", str(tmp_path), "status", "--json"])
    assert result.exit_code == 1  # the pending version is behind: a problem, with its fix
    rows = json.loads(result.stdout)
    assert [(r["view"], r["status"], r["keys"], r["store"]) for r in rows] == [
        ("stats", "active", 3, "ok"),
        ("stats", "pending", 0, "-"),
    ]
    assert rows[0]["watermark"] == T.isoformat()
    # Freshness is the wall clock's distance to the watermark T (fixed when this module was imported).
    since_t = (datetime.now(UTC).replace(tzinfo=None) - T).total_seconds()
    assert since_t - 60 <= rows[0]["freshness_seconds"] <= since_t + 1  # rounded to ms by status
    assert "featurestore materialize --view stats" in rows[1]["problems"][0]
    store.materialize(end=T)
    result = CliRunner().invoke(cli, ["--repo", str(tmp_path), "status"])
    assert result.exit_code == 0, result.output
    assert "active" in result.output
    assert "pending" not in result.output


@pytest.mark.redis
def test_a_redis_that_may_evict_is_warned_about_and_its_evictions_counted(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    require_redis()
    server = start_redis(tmp_path / "redis", "--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru")
    try:
        repo = tmp_path / "repo"
        repo.mkdir()
        (repo / "featurestore.toml").write_text(
            f'project = "evict"\n[online]\ntype = "redis"\nurl = "{server.url}"\n'
        )
        many = {
            "driver_id": list(range(50_000)),
            "event_timestamp": [T - H] * 50_000,
            "rate": [i / 7 for i in range(50_000)],
            "trips": list(range(50_000)),
        }
        store = make_repo(repo, DEFS, {"data/stats.parquet": many})
        summary = store.materialize(end=T)
        assert summary.evicted_keys is not None
        assert summary.evicted_keys > 0
        assert "maxmemory-policy allkeys-lru" in summary.warnings[0]
        assert f"evicted {summary.evicted_keys:,} keys" in summary.warnings[1]
        missing = sum(c.missing for c in store.verify(sample=2000))
        assert missing > 0  # what was evicted reads NOT_FOUND, and verify says so
        result = CliRunner().invoke(cli, ["--repo", str(repo), "materialize", "--end", T.isoformat()])
        assert "warning:" in result.output
        assert "noeviction" in result.output
        store.close()
    finally:
        server.stop()


@pytest.mark.redis
def test_apply_with_the_online_store_down_applies_and_deletes_old_versions_later(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    require_redis()
    server = start_redis(tmp_path / "redis")
    port = server.port
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "featurestore.toml").write_text(
        f'project = "down"\n[online]\ntype = "redis"\nurl = "{server.url}"\nconnect_timeout = 0.5\n'
    )
    other = """
    rider = Entity(name="rider", join_keys=["driver_id"])
    other_src = FileSource(name="other_src", path="data/stats.parquet", timestamp_field="event_timestamp")
    other = FeatureView(name="other", entities=[rider], source=other_src, ttl=None,
                        features=[Feature("rate", "float64")])
    """
    store = make_repo(repo, {"defs.py": DEFS, "other.py": other}, {"data/stats.parquet": ROWS})
    store.materialize(end=T)
    server.stop()
    (repo / "definitions" / "other.py").unlink()
    diff = FeatureStore(repo).apply()  # the registry is applied; the deletion waits for the store
    assert [(c.kind, c.name) for c in diff.changes] == [
        ("removed", "rider"),
        ("removed", "other_src"),
        ("removed", "other"),
    ]
    assert "not deleted yet" in diff.warnings[0]
    assert "cannot reach Redis" in diff.warnings[0]
    assert "other" not in FeatureStore(repo).registry.views
    assert [r.status for r in FilesBackend(repo).versions("other")] == ["retired"]
    server = start_redis(tmp_path / "redis2", port=port)
    try:
        store = FeatureStore(repo)
        store.materialize(end=T)  # the next run deletes what is retired
        assert FilesBackend(repo).versions("other") == []
    finally:
        server.stop()


def test_status_reports_a_future_watermark_with_the_command_that_rewrites_it(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from featurestore.registry.state import Watermark
    from featurestore.versions import begin_run, finish_run

    store = _repo(tmp_path, "sqlite", request)
    # What a run before end times were bounded could leave: a watermark a year ahead.
    target = begin_run(store.state, store.registry.project, store.registry.view("stats"), rebuild=False)
    finish_run(store.state, target, Watermark(target.record.version, NOW + timedelta(days=365), None, NOW, 0))
    (row,) = store.status(online=False)  # the state alone (nothing was written to the store)
    assert row.problems == (
        f"the watermark {(NOW + timedelta(days=365)).isoformat()} is in the future: values are pinned. "
        "Run `featurestore materialize --overwrite --end now --view stats`",
    )
    store.materialize(end=T, overwrite=True)
    (row,) = store.status()
    assert (row.watermark, row.problems) == (T, ())


def test_a_late_row_is_found_even_when_the_last_run_saw_no_created_time(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    import pyarrow as pa

    defs = DEFS.replace(
        'path="data/stats.parquet", timestamp_field="event_timestamp")',
        'path="data/**/*.parquet", timestamp_field="event_timestamp", created_timestamp_field="created")',
    )
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "featurestore.toml").write_text(_config("sqlite", request))
    created = {"created": pa.timestamp("us")}
    # The first rows carry no created time: the first run sees none.
    store = make_repo(
        tmp_path, defs, {"data/base/stats.parquet": {**ROWS, "created": [None] * 4}}, types=created
    )
    store.materialize(end=T - H / 4)
    # Driver 2 gets a correction stamped before the watermark, created after the run: a late row.
    late = {"driver_id": [2], "event_timestamp": [T - H / 2], "rate": [0.55], "trips": [55], "created": [T]}
    write_data(tmp_path, "data/late/part.parquet", late, created)
    run = store.materialize_incremental(end=T - H / 4).runs[0]
    assert run.entities_written == 1
    assert _read(store, "rate")[0]["rate"] == [0.2, 0.55, 0.9]
