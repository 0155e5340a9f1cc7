"""SQLite specifics: the file, WAL mode, two processes writing at once, the factory's paths."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from featurestore.config import RedisClusterOnlineConfig, RedisOnlineConfig, SqliteOnlineConfig
from featurestore.errors import OnlineStoreError
from featurestore.online import compile_read_plan, open_online_store
from tests.online.test_contract import batch, make_view

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ENTITIES = list(range(500))
ROUNDS = 10


def _write_rounds(path: str, parity: int) -> None:
    """One writer process: every other sequence number, newest first (the worst order for newer-wins)."""
    view = make_view("p", features=(("seq", "int64"),))
    store = open_online_store(SqliteOnlineConfig(path=path), Path("/"))
    for seq in sorted((s for s in range(ROUNDS * 2) if s % 2 == parity), reverse=parity == 1):
        ts = [T0 + timedelta(seconds=seq)] * len(ENTITIES)
        store.write(view, batch(view, {"driver_id": ENTITIES}, ts, seq=[seq] * len(ENTITIES)))
    store.close()


def test_two_processes_write_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "online.db")
    # fork: the children need nothing re-imported, which keeps the test fast.
    ctx = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    writers = [ctx.Process(target=_write_rounds, args=(path, parity)) for parity in (0, 1)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(60)
    assert [w.exitcode for w in writers] == [0, 0]
    view = make_view("p", features=(("seq", "int64"),))
    store = open_online_store(SqliteOnlineConfig(path=path), tmp_path)
    [result] = store.read(compile_read_plan([(view, None)]), {"driver_id": ENTITIES})
    assert set(result.column("seq").to_pylist()) == {ROUNDS * 2 - 1}
    store.close()


def test_default_path_is_under_the_repo_and_in_wal_mode(tmp_path: Path) -> None:
    store = open_online_store(SqliteOnlineConfig(), tmp_path)
    view = make_view("p")
    store.write(view, batch(view, {"driver_id": [1]}, [T0], rate=[1.0], trips=[1]))
    store.close()
    db = tmp_path / ".featurestore" / "online.db"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("SELECT namespace, entity_key FROM online_values").fetchall() == [
            ("p:drivers:v1", "i1")
        ]
    conn.close()


def test_reads_are_not_blocked_by_a_writer(tmp_path: Path) -> None:
    store = open_online_store(SqliteOnlineConfig(path="x.db"), tmp_path)
    view = make_view("p")
    store.write(view, batch(view, {"driver_id": [1]}, [T0], rate=[1.0], trips=[1]))
    other = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    other.execute("DELETE FROM online_values")
    [result] = store.read(compile_read_plan([(view, None)]), {"driver_id": [1]})
    assert result.column("trips").to_pylist() == [1]  # the committed value, without waiting
    other.execute("ROLLBACK")
    other.close()
    store.close()


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = open_online_store(SqliteOnlineConfig(path="x.db"), tmp_path)
    store.close()
    with pytest.raises(OnlineStoreError, match="is closed"):
        store.read(compile_read_plan([(make_view("p"), None)]), {"driver_id": [1]})


def test_factory_picks_the_store_from_the_config(tmp_path: Path) -> None:
    kinds = {
        SqliteOnlineConfig(path=str(tmp_path / "abs.db")): ("sqlite", True, False),
        RedisOnlineConfig(): ("redis", False, False),
        RedisClusterOnlineConfig(): ("redis_cluster", False, True),
    }
    for config, (name, embedded, cluster) in kinds.items():
        store = open_online_store(config, tmp_path)
        caps = store.capabilities
        assert (caps.name, caps.embedded, caps.cluster) == (name, embedded, cluster)
        assert caps.supports_ttl_expiry == (name != "sqlite")
        store.close()
    assert (tmp_path / "abs.db").exists()
