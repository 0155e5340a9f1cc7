"""The online store contract: one test body, run against SQLite, Redis and Redis Cluster.

See ``featurestore/online/base.py`` for the contract itself.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from featurestore.errors import EntityRowsError, OnlineStoreError, UnknownFeatureError
from featurestore.online import EVENT_TS, OnlineView, Status, compile_read_plan, open_online_store
from featurestore.online.keys import redis_key
from tests.online.conftest import StoreUnderTest

TS = pa.timestamp("us", tz="UTC")
NOW = datetime.now(UTC).replace(microsecond=123456)
ALL_DTYPES = ("bool", "int32", "int64", "float32", "float64", "string", "bytes", "timestamp", "date")


def make_view(project: str, name: str = "drivers", **overrides: Any) -> OnlineView:
    fields: dict[str, Any] = {
        "project": project,
        "name": name,
        "version": "v1",
        "join_keys": ("driver_id",),
        "key_dtypes": ("int64",),
        "features": (("rate", "float64"), ("trips", "int64")),
        "ttl": None,
    }
    fields.update(overrides)
    return OnlineView(**fields)


def batch(
    view: OnlineView, keys: dict[str, list[Any]], ts: list[datetime], **features: list[Any]
) -> pa.Table:
    from featurestore.dsl.dtypes import arrow_type

    columns: dict[str, Any] = dict(keys)
    columns[EVENT_TS] = pa.array(ts, TS)
    for name, dtype in view.features:
        columns[name] = pa.array(features[name], arrow_type(dtype))
    return pa.table(columns)


def read(t: StoreUnderTest, view: OnlineView, keys: dict[str, list[Any]], **kw: Any) -> Any:
    [result] = t.store.read(compile_read_plan([(view, None)]), keys, **kw)
    return result


def values(result: Any) -> dict[str, list[Any]]:
    """The values per feature; also checks that the Python fast path agrees with the Arrow arrays."""
    out = {f: c.to_pylist() for f, c in zip(result.features, result.columns, strict=True)}
    assert out == {f: result.values(f) for f in result.features}
    assert result.statuses() == result.status.to_pylist()
    assert result.event_times() == result.event_ts.to_pylist()
    assert len(result) == len(result.status)
    return out


# -- values and keys ----------------------------------------------------------------------------------


def test_round_trip_of_every_dtype_with_nulls(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    view = make_view(t.project, features=tuple((f"f_{d}", d) for d in ALL_DTYPES), ttl=timedelta(days=3650))
    rows: dict[str, list[Any]] = {
        "f_bool": [True, None, False],
        "f_int32": [-(2**31), None, 2**31 - 1],
        "f_int64": [-(2**63), 0, None],
        "f_float32": [1.5, None, -0.25],
        "f_float64": [float("inf"), 2.5e-300, None],
        "f_string": ["héllo {x}|%", "", None],
        "f_bytes": [b"\x00\xff", None, b""],
        "f_timestamp": [datetime(1969, 7, 20, 20, 17, 40, 1, tzinfo=UTC), None, NOW],
        "f_date": [date(2024, 2, 29), date(1900, 1, 1), None],
    }
    ts = [NOW - timedelta(seconds=i) for i in range(3)]
    assert t.store.write(view, batch(view, {"driver_id": [1, 2, 3]}, ts, **rows)) == 3
    result = read(t, view, {"driver_id": [3, 1, 2]})
    expected = {name: [col[2], col[0], col[1]] for name, col in rows.items()}
    assert values(result) == expected
    assert result.status.to_pylist() == ["PRESENT"] * 3
    assert result.event_ts.to_pylist() == [ts[2], ts[0], ts[1]]
    assert result.event_ts.type == TS
    types = [pa.bool_(), pa.int32(), pa.int64(), pa.float32(), pa.float64(), pa.string(), pa.binary()]
    assert [c.type for c in result.columns] == [*types, TS, pa.date32()]


def test_feature_subset_in_requested_order(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    view = make_view(t.project)
    t.store.write(view, batch(view, {"driver_id": [7]}, [NOW], rate=[0.5], trips=[9]))
    [result] = t.store.read(compile_read_plan([(view, ["trips", "rate"])]), {"driver_id": [7]})
    assert result.features == ("trips", "rate")
    assert values(result) == {"trips": [9], "rate": [0.5]}
    assert result.column("rate").to_pylist() == [0.5]


def test_string_and_composite_keys(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    view = make_view(
        t.project, name="pairs", join_keys=("a", "b"), key_dtypes=("string", "string"),
        features=(("n", "int64"),),
    )  # fmt: skip
    # ("x", "y|sz") and ("x|sy", "z") would collide under a naive "|" join.
    keys = {"a": ["x", "x|sy", "", "1"], "b": ["y|sz", "z", "", "{1}"]}
    t.store.write(view, batch(view, keys, [NOW] * 4, n=[1, 2, 3, 4]))
    result = read(t, view, {"a": ["1", "x|sy", "x", "", "x"], "b": ["{1}", "z", "y|sz", "", "y"]})
    assert values(result) == {"n": [4, 2, 1, 3, None]}
    assert result.status.to_pylist() == ["PRESENT"] * 4 + ["NOT_FOUND"]


def test_int_and_string_keys_never_collide(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    ints = make_view(
        t.project, name="mixed", version="a", join_keys=("k", "j"), key_dtypes=("int64", "string")
    )
    t.store.write(ints, batch(ints, {"k": [1], "j": ["1"]}, [NOW], rate=[1.0], trips=[1]))
    swapped = make_view(
        t.project, name="mixed", version="a", join_keys=("k", "j"), key_dtypes=("string", "int64")
    )
    assert read(t, swapped, {"k": ["1"], "j": [1]}).status.to_pylist() == ["NOT_FOUND"]
    assert read(t, ints, {"k": [1], "j": ["1"]}).status.to_pylist() == ["PRESENT"]


def test_views_with_different_keys_in_one_read(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    drivers = make_view(t.project)
    pairs = make_view(
        t.project, name="pairs", join_keys=("driver_id", "rider"), key_dtypes=("int64", "string"),
        features=(("trips_together", "int32"),),
    )  # fmt: skip
    t.store.write(drivers, batch(drivers, {"driver_id": [1, 2]}, [NOW] * 2, rate=[0.1, 0.2], trips=[1, 2]))
    t.store.write(pairs, batch(pairs, {"driver_id": [2], "rider": ["r"]}, [NOW], trips_together=[5]))
    plan = compile_read_plan([(pairs, None), (drivers, ["rate"])])
    got_pairs, got_drivers = t.store.read(plan, {"driver_id": [1, 2], "rider": ["r", "r"]})
    assert values(got_pairs) == {"trips_together": [None, 5]}
    assert values(got_drivers) == {"rate": [0.1, 0.2]}


def test_never_written_entities_are_not_found(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    view = make_view(t.project)
    t.store.write(view, batch(view, {"driver_id": [2]}, [NOW], rate=[0.2], trips=[None]))
    result = read(t, view, {"driver_id": [1, 2, 3, 2]})
    assert result.status.to_pylist() == ["NOT_FOUND", "PRESENT", "NOT_FOUND", "PRESENT"]
    assert values(result) == {"rate": [None, 0.2, None, 0.2], "trips": [None] * 4}
    assert result.event_ts.to_pylist() == [None, NOW, None, NOW]
    empty = read(t, view, {"driver_id": []})
    assert len(empty.status) == 0
    assert values(empty) == {"rate": [], "trips": []}


def test_many_entities_in_chunks(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    view = make_view(t.project, features=(("name", "string"), ("trips", "int64")))
    n = 4500  # several write-script chunks
    ids = list(range(n))
    assert (
        t.store.write(
            view, batch(view, {"driver_id": ids}, [NOW] * n, name=[f"d{i}" for i in ids], trips=ids)
        )
        == n
    )
    wanted = [*ids[::-3], n + 1]
    result = read(t, view, {"driver_id": wanted})
    assert result.column("trips").to_pylist() == [*wanted[:-1], None]
    assert result.column("name").to_pylist()[:2] == [f"d{wanted[0]}", f"d{wanted[1]}"]


def test_write_batches_streams_and_counts_per_batch(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    view = make_view(t.project)
    old, new = NOW - timedelta(hours=1), NOW
    batches = [
        batch(view, {"driver_id": [1, 2]}, [new, new], rate=[1.0, 2.0], trips=[1, 2]),
        batch(view, {"driver_id": [3]}, [new], rate=[3.0], trips=[3]).slice(0, 0),  # empty
        batch(view, {"driver_id": [1, 3]}, [old, old], rate=[9.0, 3.0], trips=[9, 3]),  # 1 is older
    ]
    assert list(t.store.write_batches(view, iter(batches))) == [2, 0, 1]
    assert values(read(t, view, {"driver_id": [1, 2, 3]})) == {"rate": [1.0, 2.0, 3.0], "trips": [1, 2, 3]}
    # A consumer that stops early leaves the store usable.
    stream = t.store.write_batches(view, iter(batches * 3))
    assert next(stream) == 2
    stream.close()  # type: ignore[attr-defined]
    assert read(t, view, {"driver_id": [1]}).status.to_pylist() == ["PRESENT"]
    with pytest.raises(OnlineStoreError, match="lacks column"):
        list(t.store.write_batches(view, [batches[0], batches[0].drop_columns(["rate"])]))
    assert read(t, view, {"driver_id": [2]}).status.to_pylist() == ["PRESENT"]


# -- newer wins ---------------------------------------------------------------------------------------


def test_older_write_never_replaces_newer(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    view = make_view(t.project)
    new, old = NOW, NOW - timedelta(hours=1)
    assert (
        t.store.write(view, batch(view, {"driver_id": [1, 2]}, [new, old], rate=[1.0, 2.0], trips=[1, 2]))
        == 2
    )
    assert (
        t.store.write(view, batch(view, {"driver_id": [1, 2]}, [old, new], rate=[9.0, 3.0], trips=[9, 3]))
        == 1
    )
    result = read(t, view, {"driver_id": [1, 2]})
    assert values(result) == {"rate": [1.0, 3.0], "trips": [1, 3]}
    assert result.event_ts.to_pylist() == [new, new]


def test_equal_timestamp_replaces(store_under_test: StoreUnderTest) -> None:
    """Equal event times: the later write wins (idempotent reruns; same-time corrections apply)."""
    t = store_under_test
    view = make_view(t.project)
    t.store.write(view, batch(view, {"driver_id": [1]}, [NOW], rate=[1.0], trips=[1]))
    assert t.store.write(view, batch(view, {"driver_id": [1]}, [NOW], rate=[2.0], trips=[2])) == 1
    assert values(read(t, view, {"driver_id": [1]})) == {"rate": [2.0], "trips": [2]}


def test_newer_wins_inside_one_batch(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    view = make_view(t.project)
    ts = [NOW, NOW - timedelta(minutes=5), NOW + timedelta(minutes=5), NOW - timedelta(minutes=1)]
    t.store.write(
        view, batch(view, {"driver_id": [1, 1, 2, 2]}, ts, rate=[1.0, 2.0, 3.0, 4.0], trips=[1, 2, 3, 4])
    )
    assert values(read(t, view, {"driver_id": [1, 2]})) == {"rate": [1.0, 3.0], "trips": [1, 3]}


def test_two_racing_writers_end_newer_wins(store_under_test: StoreUnderTest, tmp_path: Any) -> None:
    t = store_under_test
    view = make_view(t.project, features=(("seq", "int64"),))
    entities = list(range(300))
    rounds = 12
    # Writer A writes even sequence numbers, writer B odd ones, each in a shuffled order of rounds.
    plans = {w: [s for s in range(rounds * 2) if s % 2 == w] for w in (0, 1)}
    for p in plans.values():
        random.Random(len(p)).shuffle(p)
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def writer(w: int) -> None:
        store = _second_store(t, tmp_path) if w else t.store
        try:
            start.wait()
            for seq in plans[w]:
                ts = [NOW + timedelta(seconds=seq)] * len(entities)
                store.write(view, batch(view, {"driver_id": entities}, ts, seq=[seq] * len(entities)))
        except BaseException as exc:
            errors.append(exc)
        finally:
            if w:
                store.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    result = read(t, view, {"driver_id": entities})
    assert set(result.column("seq").to_pylist()) == {rounds * 2 - 1}
    assert set(result.event_ts.to_pylist()) == {NOW + timedelta(seconds=rounds * 2 - 1)}


def _second_store(t: StoreUnderTest, tmp_path: Any) -> Any:
    """Another store on the same data, as a second process would open it."""
    from featurestore.config import RedisClusterOnlineConfig, RedisOnlineConfig, SqliteOnlineConfig

    if t.kind == "sqlite":
        return open_online_store(SqliteOnlineConfig(path="online.db"), tmp_path)
    url = t.raw.get_connection_kwargs() if t.kind == "redis" else None
    if t.kind == "redis":
        return open_online_store(RedisOnlineConfig(url=f"redis://127.0.0.1:{url['port']}/0"), tmp_path)
    node = t.raw.get_default_node()
    return open_online_store(RedisClusterOnlineConfig(url=f"redis://{node.host}:{node.port}"), tmp_path)


# -- ttl ----------------------------------------------------------------------------------------------


def test_one_entity_reads_each_status_value_and_null(store_under_test: StoreUnderTest) -> None:
    """A read of one entity decodes on its own path: every status, strings, nulls, composite keys."""
    t = store_under_test
    view = make_view(
        t.project, name="one", join_keys=("city", "driver_id"), key_dtypes=("string", "int64"),
        features=(("rate", "float64"), ("name", "string"), ("trips", "int64"), ("tag", "string")),
        ttl=timedelta(hours=1),
    )  # fmt: skip
    fresh, old = NOW - timedelta(minutes=10), NOW - timedelta(minutes=50)
    later = NOW + timedelta(minutes=20)  # old is 70 minutes old then, fresh 30
    keys = {"city": ["Zürich|1", "Zürich|1", "Oslo"], "driver_id": [7, 8, 7]}
    rows = {
        "rate": [0.25, 0.5, 1.0],
        "name": ["Ana", None, "Bo"],
        "trips": [None, 4, 5],
        "tag": ["", "x", "y"],
    }
    assert t.store.write(view, batch(view, keys, [fresh, fresh, old], **rows)) == 3
    plan = compile_read_plan([(view, ["tag", "rate", "name", "trips"])])

    def one(city: str, driver: int) -> Any:
        [result] = t.store.read(plan, {"city": [city], "driver_id": [driver]}, now=later)
        return result

    present = one("Zürich|1", 7)
    assert values(present) == {"tag": [""], "rate": [0.25], "name": ["Ana"], "trips": [None]}
    assert (present.statuses(), present.event_times()) == (["PRESENT"], [fresh])
    nulls = one("Zürich|1", 8)
    assert values(nulls) == {"tag": ["x"], "rate": [0.5], "name": [None], "trips": [4]}
    expired = one("Oslo", 7)  # 70 minutes old, ttl 1 hour
    assert values(expired) == {"tag": [None], "rate": [None], "name": [None], "trips": [None]}
    assert (expired.statuses(), expired.event_times()) == (["EXPIRED"], [old])
    missing = one("Oslo", 8)
    assert values(missing) == {"tag": [None], "rate": [None], "name": [None], "trips": [None]}
    assert (missing.statuses(), missing.event_times()) == (["NOT_FOUND"], [None])
    # the same entities in one read of several agree with the reads of one
    [many] = t.store.read(
        plan, {"city": ["Oslo", "Zürich|1", "Oslo", "Zürich|1"], "driver_id": [8, 8, 7, 7]}, now=later
    )
    assert values(many) == {
        "tag": [None, "x", None, ""], "rate": [None, 0.5, None, 0.25],
        "name": [None, None, None, "Ana"], "trips": [None, 4, None, None],
    }  # fmt: skip
    assert many.statuses() == ["NOT_FOUND", "PRESENT", "EXPIRED", "PRESENT"]


def test_ttl_expires_at_read_time(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    view = make_view(t.project, ttl=timedelta(hours=1))
    ts = NOW - timedelta(minutes=30)
    t.store.write(view, batch(view, {"driver_id": [1]}, [ts], rate=[0.5], trips=[3]))
    assert read(t, view, {"driver_id": [1]}).status.to_pylist() == ["PRESENT"]
    # Exactly ttl old is still valid (as in point-in-time joins); one microsecond later it is EXPIRED.
    edge = read(t, view, {"driver_id": [1, 2]}, now=ts + timedelta(hours=1))
    assert edge.status.to_pylist() == ["PRESENT", "NOT_FOUND"]
    late = read(t, view, {"driver_id": [1, 2]}, now=ts + timedelta(hours=1, microseconds=1))
    assert late.status.to_pylist() == ["EXPIRED", "NOT_FOUND"]
    assert values(late) == {"rate": [None, None], "trips": [None, None]}
    assert late.event_ts.to_pylist() == [ts, None]
    assert late.status.type == pa.dictionary(pa.int8(), pa.string())
    assert late.status.indices.to_pylist() == [Status.EXPIRED, Status.NOT_FOUND]


def test_expired_values_are_not_written(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    view = make_view(t.project, ttl=timedelta(hours=1))
    stale = NOW - timedelta(hours=2)
    assert (
        t.store.write(view, batch(view, {"driver_id": [1, 2]}, [stale, NOW], rate=[1.0, 2.0], trips=[1, 2]))
        == 1
    )
    assert read(t, view, {"driver_id": [1, 2]}).status.to_pylist() == ["NOT_FOUND", "PRESENT"]


def test_redis_key_expires_at_event_ts_plus_ttl(redis_store_under_test: StoreUnderTest) -> None:
    """Redis only: SQLite keeps expired rows (they read as EXPIRED)."""
    t = redis_store_under_test
    assert t.store.capabilities.supports_ttl_expiry
    view = make_view(t.project, ttl=timedelta(hours=1))
    forever = make_view(t.project, name="forever")
    ts = datetime.now(UTC).replace(microsecond=250_001)
    t.store.write(view, batch(view, {"driver_id": [1]}, [ts], rate=[0.5], trips=[3]))
    t.store.write(forever, batch(forever, {"driver_id": [1]}, [ts], rate=[0.5], trips=[3]))
    key = redis_key(view.namespace, "i1")
    expected_ms = -(-int((ts + timedelta(hours=1)).timestamp() * 1_000_000) // 1000)  # rounded up
    assert t.raw.execute_command("PEXPIRETIME", key) == expected_ms
    assert t.raw.execute_command("PEXPIRETIME", redis_key(forever.namespace, "i1")) == -1
    # An older write leaves the newer value and its expiry in place (the script restores both).
    older = ts - timedelta(minutes=10)
    assert t.store.write(view, batch(view, {"driver_id": [1]}, [older], rate=[9.0], trips=[9])) == 0
    assert t.raw.execute_command("PEXPIRETIME", key) == expected_ms
    assert values(read(t, view, {"driver_id": [1]})) == {"rate": [0.5], "trips": [3]}
    assert t.store.write(forever, batch(forever, {"driver_id": [1]}, [older], rate=[9.0], trips=[9])) == 0
    assert t.raw.execute_command("PEXPIRETIME", redis_key(forever.namespace, "i1")) == -1
    if t.kind == "redis_cluster":  # all views of one entity share a slot: the hash tag is the entity key
        assert t.raw.keyslot(key) == t.raw.keyslot(redis_key(forever.namespace, "i1"))


# -- namespaces ---------------------------------------------------------------------------------------


def test_new_version_does_not_see_old(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    v1 = make_view(t.project, version="v1")
    v2 = make_view(t.project, version="v2")
    t.store.write(v1, batch(v1, {"driver_id": [1]}, [NOW], rate=[1.0], trips=[1]))
    assert read(t, v2, {"driver_id": [1]}).status.to_pylist() == ["NOT_FOUND"]
    t.store.write(v2, batch(v2, {"driver_id": [1]}, [NOW - timedelta(days=1)], rate=[2.0], trips=[2]))
    assert values(read(t, v1, {"driver_id": [1]})) == {"rate": [1.0], "trips": [1]}
    assert values(read(t, v2, {"driver_id": [1]})) == {"rate": [2.0], "trips": [2]}


def test_delete_namespace_removes_exactly_one_namespace(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    ids = list(range(1200))
    # "v1" is a prefix of "v1.1" and "v10"; "drivers" a prefix of "drivers_daily": all must survive.
    old, old2, old10, new = (make_view(t.project, version=v) for v in ("v1", "v1.1", "v10", "v2"))
    similar = make_view(t.project, name="drivers_daily")
    for view in (old, old2, old10, new, similar):
        t.store.write(
            view, batch(view, {"driver_id": ids}, [NOW] * len(ids), rate=[1.0] * len(ids), trips=ids)
        )
        t.store.write_marker(view.namespace, '{"event_time": "2026-01-01T00:00:00"}')
    assert t.store.count_keys(old.namespace) == len(ids)
    assert t.store.delete_namespace(old.namespace) == len(ids)
    assert t.store.count_keys(old.namespace) == 0
    assert t.store.read_marker(old.namespace) is None  # the marker goes with the namespace
    assert set(read(t, old, {"driver_id": ids}).status.to_pylist()) == {"NOT_FOUND"}
    for kept in (old2, old10, new, similar):
        assert set(read(t, kept, {"driver_id": ids}).status.to_pylist()) == {"PRESENT"}
        assert t.store.count_keys(kept.namespace) == len(ids)
        assert t.store.read_marker(kept.namespace) == '{"event_time": "2026-01-01T00:00:00"}'
    assert t.store.delete_namespace(old.namespace) == 0  # idempotent


def test_markers_are_per_namespace_and_replaced(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    v1, v2 = make_view(t.project, version="v1"), make_view(t.project, version="v2")
    assert t.store.read_marker(v1.namespace) is None
    t.store.write_marker(v1.namespace, "first")
    t.store.write_marker(v1.namespace, "second")
    assert (t.store.read_marker(v1.namespace), t.store.read_marker(v2.namespace)) == ("second", None)
    assert t.store.count_keys(v1.namespace) == 0  # a marker is not a value


def test_diagnostics_report_eviction_risk(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    diagnostics = t.store.diagnostics()
    if t.raw is None:  # SQLite: a local file evicts nothing
        assert diagnostics.eviction_policy is None
        assert not diagnostics.may_evict
        return
    assert diagnostics.evicted_keys is not None
    assert diagnostics.evicted_keys >= 0
    assert diagnostics.eviction_policy == "noeviction"
    assert not diagnostics.may_evict
    nodes = t.raw.get_primaries() if t.kind == "redis_cluster" else [None]
    for node in nodes:  # a limit with an evicting policy (1 GB: nothing is actually evicted here)
        t.raw.config_set("maxmemory-policy", "allkeys-lru", **({"target_nodes": node} if node else {}))
        t.raw.config_set("maxmemory", str(1 << 30), **({"target_nodes": node} if node else {}))
    try:
        risky = t.store.diagnostics()
        assert risky.may_evict
        assert risky.eviction_policy == "allkeys-lru"
        assert risky.maxmemory == 1 << 30
    finally:
        for node in nodes:
            t.raw.config_set("maxmemory-policy", "noeviction", **({"target_nodes": node} if node else {}))
            t.raw.config_set("maxmemory", "0", **({"target_nodes": node} if node else {}))


# -- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            {"driver_id": ["1001"]},
            r"join key 'driver_id' of feature view 'drivers' expects int64 .* '1001' \(str\)",
        ),
        ({"driver_id": [1.0]}, r"expects int64 .* 1\.0 \(float\)"),
        ({"driver_id": [1, None]}, r"expects int64 .* entity row 1 has None"),
        ({"driver_id": [True]}, r"expects int64 .* True \(bool\)"),
        ({"driver": [1]}, r"entity rows lack join key 'driver_id' needed by feature view 'drivers'"),
        ({"driver_id": [1], "region": [1, 2]}, None),
    ],
)
def test_wrong_entity_keys_are_clear_errors(
    store_under_test: StoreUnderTest, keys: dict[str, list[Any]], message: str | None
) -> None:
    t = store_under_test
    view = make_view(t.project)
    if message is None:  # extra columns are ignored
        assert read(t, view, keys).status.to_pylist() == ["NOT_FOUND"]
        return
    with pytest.raises(EntityRowsError, match=message):
        read(t, view, keys)


def test_string_key_given_an_int(store_under_test: StoreUnderTest) -> None:
    view = make_view(store_under_test.project, join_keys=("user",), key_dtypes=("string",))
    with pytest.raises(
        EntityRowsError, match=r"join key 'user' of feature view 'drivers' expects string .* pass '7'"
    ):
        read(store_under_test, view, {"user": [7]})


def test_unknown_feature_in_a_plan() -> None:
    view = make_view("p")
    with pytest.raises(UnknownFeatureError, match="Did you mean 'rate'"):
        compile_read_plan([(view, ["rat"])])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.drop_columns(["trips"]), "lacks column.*trips"),
        (lambda b: b.set_column(0, "driver_id", pa.array([None, 2], pa.int64())), "null value.*'driver_id'"),
        (lambda b: b.set_column(0, "driver_id", pa.array(["1", "2"])), "declared int64 but .* string"),
        (lambda b: b.set_column(1, EVENT_TS, pa.array([NOW, None], TS)), "null __event_ts"),
        (lambda b: b.set_column(1, EVENT_TS, pa.array([1, 2])), "not event timestamps"),
        (lambda b: b.set_column(3, "trips", pa.array(["a", "b"])), "'trips' .* cannot be stored as int64"),
    ],
)
def test_bad_write_batches_are_clear_errors(
    store_under_test: StoreUnderTest, mutate: Any, message: str
) -> None:
    view = make_view(store_under_test.project)
    good = batch(view, {"driver_id": [1, 2]}, [NOW, NOW], rate=[1.0, 2.0], trips=[1, 2])
    with pytest.raises(OnlineStoreError, match=message):
        store_under_test.store.write(view, mutate(good))


def test_write_casts_compatible_types(store_under_test: StoreUnderTest) -> None:
    t = store_under_test
    view = make_view(t.project)
    table = pa.table({
        "driver_id": pa.array([1], pa.int32()),
        EVENT_TS: pa.array([NOW], pa.timestamp("us")),  # naive means UTC
        "rate": pa.array([1.5], pa.float32()),
        "trips": pa.array([3], pa.int16()),
    })  # fmt: skip
    assert t.store.write(view, table.to_batches()[0]) == 1
    result = read(t, view, {"driver_id": [1]})
    assert values(result) == {"rate": [1.5], "trips": [3]}
    assert result.event_ts.to_pylist() == [NOW]
