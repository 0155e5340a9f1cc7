"""Loading, plan/apply diffs and the registry file's atomic, locked writes."""

from __future__ import annotations

import multiprocessing
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from featurestore import FeatureStore
from featurestore.errors import RegistryError
from featurestore.registry.storage import registry_path
from tests.pit_repo import make_repo


def test_plan_then_apply_then_no_changes(example_repo: Path) -> None:
    store = FeatureStore(example_repo)
    planned = store.plan()
    assert not registry_path(example_repo).exists(), "plan must not write"
    assert {c.name for c in planned.of("added")} >= {"driver_hourly_stats", "driver_ranking_v1", "driver"}
    applied = store.apply()
    assert applied.changes == planned.changes
    assert store.plan().empty
    assert set(store.registry.views) == {
        "driver_hourly_stats",
        "customer_profile",
        "driver_customer_stats",
        "customer_payments",
    }


def test_metadata_change_vs_data_change(example_repo: Path) -> None:
    store = FeatureStore(example_repo)
    store.apply()
    fp = store.registry.views["driver_hourly_stats"].data_fingerprint
    drivers = example_repo / "definitions" / "drivers.py"
    text = drivers.read_text()
    drivers.write_text(text.replace('owner="marketplace@rides.example"', 'owner="someone@rides.example"'))
    diff = store.plan()
    assert [(c.kind, c.name) for c in diff.changes] == [("metadata", "driver_hourly_stats")]
    store.apply()
    assert store.registry.views["driver_hourly_stats"].data_fingerprint == fp
    drivers.write_text(drivers.read_text().replace("timedelta(days=2)", "timedelta(days=3)"))
    diff = store.plan()
    assert [(c.kind, c.name) for c in diff.changes] == [("data", "driver_hourly_stats")]
    assert "ttl" in diff.changes[0].detail
    store.apply()
    assert store.registry.views["driver_hourly_stats"].data_fingerprint != fp


def test_removed_view_is_reported(example_repo: Path) -> None:
    store = FeatureStore(example_repo)
    store.apply()
    (example_repo / "definitions" / "services.py").unlink()
    diff = store.plan()
    assert [(c.kind, c.object_type, c.name) for c in diff.changes] == [
        ("removed", "feature service", "driver_ranking_v1")
    ]


def test_training_set_before_apply_says_what_to_do(example_repo: Path) -> None:
    with pytest.raises(RegistryError, match="featurestore apply"):
        FeatureStore(example_repo).get_training_set(
            "data/entity_rows.parquet", ["driver_hourly_stats:conv_rate"]
        )


def test_corrupt_registry_is_a_clear_error(example_repo: Path) -> None:
    store = FeatureStore(example_repo)
    store.apply()
    registry_path(example_repo).write_text("{not json")
    with pytest.raises(RegistryError, match=r"not a valid registry.*featurestore apply"):
        _ = store.registry


def _apply(root: str) -> None:
    FeatureStore(root).apply()


def test_concurrent_applies_leave_a_valid_registry(example_repo: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_apply, args=(str(example_repo),)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = FeatureStore(example_repo)
    assert store.plan().empty
    leftovers = [p.name for p in registry_path(example_repo).parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_crash_during_the_write_keeps_the_old_registry(
    example_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FeatureStore(example_repo)
    store.apply()
    before = registry_path(example_repo).read_bytes()
    drivers = example_repo / "definitions" / "drivers.py"
    drivers.write_text(drivers.read_text().replace("timedelta(days=2)", "timedelta(days=3)"))

    import featurestore.registry.storage as storage

    def boom(fd: int) -> None:
        raise KeyboardInterrupt  # as if Ctrl-C arrived mid-write

    monkeypatch.setattr(storage.os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        store.apply()
    monkeypatch.undo()
    assert registry_path(example_repo).read_bytes() == before
    assert [p for p in registry_path(example_repo).parent.iterdir() if p.name.endswith(".tmp")] == []
    store.apply()  # a rerun completes
    assert store.plan().empty


SMALL = """
driver = Entity(name="driver", join_keys=["driver_id"])
src = FileSource(name="stats", path="data/stats.parquet", timestamp_field="event_timestamp")
stats = FeatureView(name="stats", entities=[driver], source=src, ttl=timedelta(days=3),
                    features=[Feature("rate", "float64")])
"""


def _small_repo(root: Path) -> FeatureStore:
    data = {"driver_id": [1], "event_timestamp": [datetime.now(UTC)], "rate": [0.5]}
    return make_repo(root, SMALL, {"data/stats.parquet": data})


def test_an_edit_within_the_same_second_is_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python trusts cached bytecode while the source keeps its size and modification second: the
    loader must not, or a quick same-size edit (days=3 -> days=2) applies the old definitions."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as for users (the test runs may set it)
    store = _small_repo(tmp_path)
    defs = tmp_path / "definitions" / "defs.py"
    stamp = defs.stat().st_mtime_ns
    defs.write_text(defs.read_text().replace("days=3", "days=2"))
    os.utime(defs, ns=(stamp, stamp))  # the same second, deterministically
    assert [(c.kind, c.detail) for c in store.apply().changes] == [("data", "ttl 3d -> 2d")]
    assert not (tmp_path / "definitions" / "__pycache__").exists()  # nothing is cached in the repo


def test_a_file_added_within_the_folders_timestamp_is_loaded(tmp_path: Path) -> None:
    """The import system re-lists a folder only when its modification time changes, which on a coarse
    file system it does not for a file added within the same tick."""
    store = _small_repo(tmp_path)
    folder = tmp_path / "definitions"
    stamp = folder.stat().st_mtime_ns
    (folder / "more.py").write_text(
        "from definitions.defs import driver, src\n"
        "from featurestore import Feature, FeatureView\n"
        'more = FeatureView(name="more", entities=[driver], source=src, ttl=None, '
        'features=[Feature("rate", "float64")])\n'
    )
    os.utime(folder, ns=(stamp, stamp))
    assert [(c.kind, c.name) for c in store.apply().of("added")] == [("added", "more")]
