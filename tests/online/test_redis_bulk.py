"""The standalone Redis store's bulk path (``redis_writes.py``): MSETNX into absent keys, the newer-wins
script elsewhere, and the sweep that gives bulk-written values their expiry. On a real redis-server."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import redis

from featurestore.config import RedisOnlineConfig
from featurestore.online import OnlineView, compile_read_plan, open_online_store
from featurestore.online.keys import redis_key
from featurestore.online.redis import RedisOnlineStore
from featurestore.online.redis_writes import SWEEP_LEASE_MS, WRITE_CHUNK, sweep_key
from tests.online.conftest import RedisServer
from tests.online.test_contract import batch, make_view

pytestmark = pytest.mark.redis
HOUR = timedelta(hours=1)


@pytest.fixture
def store(redis_server: RedisServer, tmp_path: Path) -> Iterator[RedisOnlineStore]:
    opened = open_online_store(RedisOnlineConfig(url=redis_server.url), tmp_path)
    assert isinstance(opened, RedisOnlineStore)
    yield opened
    opened.close()


@pytest.fixture
def now() -> datetime:
    """The time of the test (the suite may run long after this module was imported)."""
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def raw(redis_server: RedisServer) -> Iterator[Any]:
    client = redis.Redis(port=redis_server.port)
    yield client
    client.close()


def ms(moment: datetime) -> int:
    """Milliseconds since the epoch, rounded up (how an expiry is set)."""
    return -(-int(moment.timestamp() * 1_000_000) // 1000)


def seqs(store: RedisOnlineStore, view: OnlineView, ids: list[int]) -> list[Any]:
    [result] = store.read(compile_read_plan([(view, None)]), {"driver_id": ids})
    return result.values("seq")


def seq_batch(view: OnlineView, ids: list[int], ts: datetime, seq: int) -> pa.Table:
    return batch(view, {"driver_id": ids}, [ts] * len(ids), seq=[seq] * len(ids))


def test_a_fresh_namespace_is_written_without_per_key_expiry_and_recorded_for_the_sweep(
    store: RedisOnlineStore, raw: Any, project: str, now: datetime
) -> None:
    view = make_view(project, ttl=HOUR)
    first, second = now - timedelta(minutes=30), now - timedelta(minutes=10)
    rows = batch(view, {"driver_id": [1, 2]}, [first, second], rate=[0.5, 0.25], trips=[3, 4])
    assert list(store.write_batches(view, [rows])) == [2]
    key1, key2 = (redis_key(view.namespace, f"i{i}") for i in (1, 2))
    assert raw.pttl(key1) == raw.pttl(key2) == -1  # MSETNX: no expiry of their own yet
    # ... and the earliest expiry of the chunk recorded as "due" in the namespace's sweep record.
    assert raw.zrange(sweep_key(view.namespace), 0, -1, withscores=True) == [(b"due", ms(first + HOUR))]
    [result] = store.read(compile_read_plan([(view, None)]), {"driver_id": [1, 2]})
    assert result.values("rate") == [0.5, 0.25]
    # The ttl is enforced at read time whatever the key's expiry.
    [late] = store.read(
        compile_read_plan([(view, None)]), {"driver_id": [1, 2]}, now=first + HOUR + timedelta(minutes=1)
    )
    assert late.statuses() == ["EXPIRED", "PRESENT"]
    assert store.count_keys(view.namespace) == 2  # the sweep record is not a value


def test_a_view_without_ttl_leaves_no_sweep_record(
    store: RedisOnlineStore, raw: Any, project: str, now: datetime
) -> None:
    view = make_view(project)
    assert list(
        store.write_batches(view, [batch(view, {"driver_id": [1]}, [now], rate=[1.0], trips=[1])])
    ) == [1]
    assert raw.pttl(redis_key(view.namespace, "i1")) == -1
    assert not raw.exists(sweep_key(view.namespace))


def test_an_older_materialization_never_replaces_a_newer_pushed_value(
    store: RedisOnlineStore, raw: Any, project: str, now: datetime
) -> None:
    """A push lands first: MSETNX refuses the chunk holding its key, which then goes through the
    newer-wins script: the pushed value and its exact expiry stay, the chunk's other keys are written."""
    view = make_view(project, features=(("seq", "int64"),), ttl=HOUR)
    pushed = now - timedelta(minutes=5)
    assert store.write(view, seq_batch(view, [7], pushed, 2)) == 1
    pushed_key = redis_key(view.namespace, "i7")
    assert raw.pexpiretime(pushed_key) == ms(pushed + HOUR)
    older = now - timedelta(minutes=20)
    ids = list(range(WRITE_CHUNK + 10))  # two chunks; the first holds 7
    assert sum(store.write_batches(view, [seq_batch(view, ids, older, 1)])) == len(ids) - 1
    assert seqs(store, view, [6, 7, 8, WRITE_CHUNK + 5]) == [1, 2, 1, 1]
    assert raw.pexpiretime(pushed_key) == ms(pushed + HOUR)
    # The refused chunk went through the script (exact expiry); the next one, sent before the refusal
    # was read, through MSETNX.
    assert raw.pexpiretime(redis_key(view.namespace, "i6")) == ms(older + HOUR)
    assert raw.pttl(redis_key(view.namespace, f"i{WRITE_CHUNK + 5}")) == -1


def test_a_push_after_a_bulk_write_is_newer_wins_and_sets_the_expiry(
    store: RedisOnlineStore, raw: Any, project: str, now: datetime
) -> None:
    view = make_view(project, features=(("seq", "int64"),), ttl=HOUR)
    at = now - timedelta(minutes=10)
    store.write_batches(view, [seq_batch(view, [1, 2], at, 1)]).__next__()
    assert store.write(view, seq_batch(view, [1], at - timedelta(minutes=1), 9)) == 0  # older: ignored
    assert store.write(view, seq_batch(view, [2], at + timedelta(minutes=1), 3)) == 1  # newer: stored
    assert seqs(store, view, [1, 2]) == [1, 3]
    # The ignored push put the bulk value back with its own expiry; the newer one has its own.
    assert raw.pexpiretime(redis_key(view.namespace, "i1")) == ms(at + HOUR)
    assert raw.pexpiretime(redis_key(view.namespace, "i2")) == ms(at + timedelta(minutes=1) + HOUR)


def test_one_key_twice_in_a_chunk_is_newer_wins(
    store: RedisOnlineStore, raw: Any, project: str, now: datetime
) -> None:
    view = make_view(project, features=(("seq", "int64"),), ttl=HOUR)
    ts = [now - timedelta(minutes=1), now - timedelta(minutes=5), now - timedelta(minutes=9)]
    rows = batch(view, {"driver_id": [1, 1, 2]}, ts, seq=[1, 2, 3])
    assert sum(store.write_batches(view, [rows])) == 2  # the older 1 lost (the script path)
    assert seqs(store, view, [1, 2]) == [1, 3]
    assert raw.pexpiretime(redis_key(view.namespace, "i1")) == ms(ts[0] + HOUR)


def test_pushes_racing_a_bulk_write_end_newer_wins(
    store: RedisOnlineStore, redis_server: RedisServer, tmp_path: Path, project: str, now: datetime
) -> None:
    """A pusher writes newer values (seq 2) for every entity while a materialization writes older ones
    (seq 1) in bulk: whatever the interleaving, every entity ends with the pushed value."""
    view = make_view(project, features=(("seq", "int64"),), ttl=HOUR)
    ids = list(range(6000))
    pushes = [ids[i : i + 150] for i in range(0, len(ids), 150)]
    random.Random(3).shuffle(pushes)
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def pusher() -> None:
        other = open_online_store(RedisOnlineConfig(url=redis_server.url), tmp_path)
        try:
            start.wait()
            for part in pushes:
                other.write(view, seq_batch(view, part, now - timedelta(minutes=1), 2))
        except BaseException as exc:
            errors.append(exc)
        finally:
            other.close()

    thread = threading.Thread(target=pusher)
    thread.start()
    start.wait()
    old = now - timedelta(minutes=30)
    batches = [seq_batch(view, ids[i : i + 1500], old, 1) for i in range(0, len(ids), 1500)]
    written = sum(store.write_batches(view, batches))
    thread.join()
    assert not errors
    assert set(seqs(store, view, ids)) == {2}
    assert 0 <= written <= len(ids)


def test_the_sweep_deletes_expired_values_and_gives_the_rest_their_expiry(
    store: RedisOnlineStore, raw: Any, project: str, now: datetime
) -> None:
    view = make_view(project, features=(("seq", "int64"),), ttl=HOUR)
    soon, later = now - HOUR + timedelta(minutes=1), now - timedelta(minutes=10)
    rows = batch(view, {"driver_id": [1, 2, 3]}, [soon, later, later], seq=[1, 2, 3])
    assert sum(store.write_batches(view, [rows])) == 3
    store.write_marker(view.namespace, "{}")
    assert not store.sweep_expired(view).swept  # nothing expired yet: the record is not due
    # Two minutes on: value 1 expired (its event time + ttl passed), values 2 and 3 not.
    done = store.sweep_expired(view, now=now + timedelta(minutes=2))
    assert (done.swept, done.deleted, done.given_expiry) == (True, 1, 2)
    assert not raw.exists(redis_key(view.namespace, "i1"))
    assert raw.pexpiretime(redis_key(view.namespace, "i2")) == ms(later + HOUR)
    assert not raw.exists(sweep_key(view.namespace))  # nothing left to sweep
    assert raw.get(f"fs:{view.namespace}:marker") == b"{}"  # the marker is no value: untouched
    assert store.count_keys(view.namespace) == 2


def test_a_bulk_write_runs_the_due_sweep_first(store: RedisOnlineStore, raw: Any, project: str) -> None:
    """Memory of an expired bulk-written value is reclaimed at the next bulk write of its namespace."""
    view = make_view(project, features=(("seq", "int64"),), ttl=HOUR)
    now = datetime.now(UTC)
    going = now - HOUR + timedelta(seconds=2)  # expires 2 s from now
    rows = batch(view, {"driver_id": [1, 2]}, [going, now], seq=[1, 2])
    assert sum(store.write_batches(view, [rows])) == 2
    time.sleep(2.2)
    assert list(store.write_batches(view, [])) == []
    assert not raw.exists(redis_key(view.namespace, "i1"))
    assert raw.pexpiretime(redis_key(view.namespace, "i2")) == ms(now + HOUR)


def test_a_crashed_sweep_is_taken_over_after_its_lease(
    store: RedisOnlineStore, raw: Any, project: str, now: datetime
) -> None:
    view = make_view(project, features=(("seq", "int64"),), ttl=HOUR)
    store.write_batches(view, [seq_batch(view, [1], now - timedelta(minutes=50), 1)]).__next__()
    record = sweep_key(view.namespace)
    held = ms(now) + SWEEP_LEASE_MS
    raw.zadd(record, {"sweeping": held})  # a sweep that died holding the record
    raw.zrem(record, "due")
    assert not store.sweep_expired(view, now=now + timedelta(minutes=5)).swept  # the lease still runs
    after = datetime.fromtimestamp((held + 1) / 1000, UTC)
    assert store.sweep_expired(view, now=after).deleted == 1
    assert not raw.exists(record)


def test_a_crash_mid_write_leaves_the_old_values_and_a_rerun_completes(
    store: RedisOnlineStore, raw: Any, project: str, now: datetime
) -> None:
    view = make_view(project, features=(("seq", "int64"),), ttl=HOUR)
    ids = list(range(4000))
    old, new = now - timedelta(minutes=30), now - timedelta(minutes=5)
    assert sum(store.write_batches(view, [seq_batch(view, ids, old, 1)])) == len(ids)

    def crashing() -> Iterator[pa.Table]:
        yield seq_batch(view, ids[:1000], new, 2)
        yield seq_batch(view, ids[1000:2500], new, 2)
        raise RuntimeError("the offline query died")

    with pytest.raises(RuntimeError, match="query died"):
        list(store.write_batches(view, crashing()))
    got = seqs(store, view, ids)
    assert set(got) <= {1, 2}  # never missing, never older
    assert got[2500:] == [1] * 1500
    assert sum(store.write_batches(view, [seq_batch(view, ids, new, 2)])) == len(ids)
    assert set(seqs(store, view, ids)) == {2}
    # The first run's bulk values are still recorded for the sweep.
    assert raw.zscore(sweep_key(view.namespace), "due") == ms(old + HOUR)


def test_delete_namespace_removes_the_sweep_record_and_counts_values_only(
    store: RedisOnlineStore, raw: Any, project: str, now: datetime
) -> None:
    view = make_view(project, ttl=HOUR)
    rows = batch(view, {"driver_id": [1, 2]}, [now, now], rate=[1.0, 2.0], trips=[1, 2])
    assert sum(store.write_batches(view, [rows])) == 2
    store.write_marker(view.namespace, "{}")
    assert store.delete_namespace(view.namespace) == 2
    assert not raw.exists(sweep_key(view.namespace))


def test_a_namespace_with_a_marker_is_written_through_the_script(
    store: RedisOnlineStore, raw: Any, project: str, now: datetime
) -> None:
    """After a complete run (its marker) most keys exist: no MSETNX to be refused, no sweep record."""
    view = make_view(project, features=(("seq", "int64"),), ttl=HOUR)
    store.write_marker(view.namespace, "{}")
    at = now - timedelta(minutes=3)
    assert sum(store.write_batches(view, [seq_batch(view, [1, 2], at, 1)])) == 2
    assert raw.pexpiretime(redis_key(view.namespace, "i1")) == ms(at + HOUR)
    assert not raw.exists(sweep_key(view.namespace))
