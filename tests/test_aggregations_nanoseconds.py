"""Aggregation views over nanosecond event times, hand-checked at both window edges: in training sets
(both modes) and online after a full and an incremental materialization.

A window is ``(t - w, t]`` with ``t`` a whole microsecond: an event 1 ns after ``t`` is outside, one
exactly at ``t - w`` is outside, one 1 ns after ``t - w`` is inside; ``last`` orders events within a
microsecond by their nanoseconds, then by created time (also in nanoseconds), as plain views do.

``T`` = 2024-01-01 12:00 UTC, ``W`` = 1 h. The source is Parquet with ``ts`` and ``created`` in
nanoseconds, naive or UTC; ``created = ts`` unless shown.

====  ============================================  =============================================
key   events (ts, amount[, created])                 why
====  ============================================  =============================================
1     (T, 1) (T + 1ns, 2) (T + 999ns, 4)             at T only the first counts; at T + 1µs all do
2     (T - W - 1ns, 40) (T - W, 10) (T - W + 1ns, 20) at T only the last is inside; at T - 1µs all are
3     (T - 10m + 100ns, 5) (T - 10m + 900ns, 3)      ``last`` is the later by 800 ns, not the greater
4     (T - 10m, 6, T - 5m + 1ns) (T - 10m, 5, T - 5m + 2ns)  a tie on ts: the later created by 1 ns
5     (T - 1m, 7) (T + 1ns, 8)                       ``last`` at T is 7
8     (T - 10m, 50, T + 1ns) (T - 20m, 60)           as known at T, the first is not known yet
====  ============================================  =============================================
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from featurestore.registry.partials import PartialStore
from tests.pit_repo import make_repo, naive, rows, table_of

T = naive(2024, 1, 1, 12)
T_NS = 1_704_110_400_000_000_000
NS = 1
US = 1_000
MINUTE = 60 * 10**9
W = 60 * MINUTE

DEFS = """
from featurestore import Aggregation
customer = Entity(name="customer", join_keys=["customer_id"])
H = timedelta(hours=1)
AGGREGATIONS = [
    Aggregation("amount", "sum", H), Aggregation("amount", "count", H), Aggregation("amount", "max", H),
    Aggregation("amount", "last", H), Aggregation("amount", "count", None),
    Aggregation("amount", "last", None),
]
pay = FeatureView(
    name="pay", entities=[customer],
    source=FileSource(name="pay_src", path="data/pay", timestamp_field="ts",
                      created_timestamp_field="created"),
    aggregations=AGGREGATIONS,
)
pay_nc = FeatureView(
    name="pay_nc", entities=[customer],
    source=FileSource(name="pay_nc_src", path="data/pay", timestamp_field="ts"),
    aggregations=AGGREGATIONS,
)
"""
FEATURES = (
    "amount_sum_1h", "amount_count_1h", "amount_max_1h", "amount_last_1h",
    "amount_count_lifetime", "amount_last_lifetime",
)  # fmt: skip

# (key, ts, amount, created): nanoseconds since the epoch; created None means created = ts.
EVENTS: list[tuple[int, int, float, int | None]] = [
    (1, T_NS, 1.0, None),
    (1, T_NS + NS, 2.0, None),
    (1, T_NS + 999 * NS, 4.0, None),
    (2, T_NS - W - NS, 40.0, None),
    (2, T_NS - W, 10.0, None),
    (2, T_NS - W + NS, 20.0, None),
    (3, T_NS - 10 * MINUTE + 100 * NS, 5.0, None),
    (3, T_NS - 10 * MINUTE + 900 * NS, 3.0, None),
    (4, T_NS - 10 * MINUTE, 6.0, T_NS - 5 * MINUTE + NS),
    (4, T_NS - 10 * MINUTE, 5.0, T_NS - 5 * MINUTE + 2 * NS),
    (5, T_NS - MINUTE, 7.0, None),
    (5, T_NS + NS, 8.0, None),
    (8, T_NS - 10 * MINUTE, 50.0, T_NS + NS),
    (8, T_NS - 20 * MINUTE, 60.0, None),
]

# At T, per key: sum, count, max, last over (T - 1h, T]; lifetime count and last over ts <= T.
AT_T = {
    1: (1.0, 1, 1.0, 1.0, 1, 1.0),  # T + 1ns and T + 999ns are after T
    2: (20.0, 1, 20.0, 20.0, 3, 20.0),  # T - W is on the open edge, T - W + 1ns inside it
    3: (8.0, 2, 5.0, 3.0, 2, 3.0),
    4: (11.0, 2, 6.0, 5.0, 2, 5.0),
    5: (7.0, 1, 7.0, 7.0, 1, 7.0),
    8: (110.0, 2, 60.0, 50.0, 2, 50.0),
}
AT_T_KNOWN = {**AT_T, 8: (60.0, 1, 60.0, 60.0, 1, 60.0)}  # created T + 1ns: not known at T
# One microsecond later (key 1) and earlier (key 2): every event of the key is in the window.
OTHER_ROWS = [
    ((1, T + timedelta(microseconds=1)), (7.0, 3, 4.0, 4.0, 3, 4.0)),
    ((2, T - timedelta(microseconds=1)), (70.0, 3, 40.0, 20.0, 3, 20.0)),
]

ZONES = [pytest.param(None, id="naive-ns"), pytest.param("UTC", id="utc-ns")]


def write_events(
    root: Path, name: str, body: list[tuple[int, int, float, int | None]], zone: str | None
) -> None:
    kind = pa.timestamp("ns", tz=zone)
    table = pa.table(
        {
            "customer_id": pa.array([k for k, *_ in body], pa.int64()),
            "ts": pa.array([ts for _, ts, _, _ in body], pa.int64()).cast(kind),
            "created": pa.array([ts if c is None else c for _, ts, _, c in body], pa.int64()).cast(kind),
            "amount": pa.array([a for _, _, a, _ in body], pa.float64()),
        }
    )
    folder = root / "data" / "pay"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / f"{name}.parquet")


@pytest.fixture(params=ZONES)
def zone(request: pytest.FixtureRequest) -> str | None:
    value: str | None = request.param
    return value


@pytest.fixture
def store(zone: str | None, tmp_path: Path) -> Iterator[FeatureStore]:
    write_events(tmp_path, "0", EVENTS, zone)
    with make_repo(tmp_path, DEFS) as built:
        yield built


def training(
    store: FeatureStore, entity_rows: list[tuple[int, Any]], view: str = "pay", **kwargs: Any
) -> list[tuple[Any, ...]]:
    table = table_of(
        ("customer_id", "event_timestamp"), *entity_rows, types={"event_timestamp": pa.timestamp("us")}
    )
    out = store.get_training_set(table, [f"{view}:{f}" for f in FEATURES], **kwargs).to_arrow()
    return rows(out, *FEATURES)


def online(store: FeatureStore, keys: list[int], view: str = "pay") -> list[tuple[Any, ...]]:
    refs = [f"{view}:{f}" for f in FEATURES]
    values = store.get_online_features(refs, {"customer_id": keys}, now=T).to_dict()
    return list(zip(*[values[f] for f in FEATURES], strict=True))


def test_training_sets_compare_nanoseconds_at_both_window_edges(store: FeatureStore) -> None:
    keys = sorted(AT_T)
    assert training(store, [(k, T) for k in keys]) == [AT_T[k] for k in keys]
    assert training(store, [r for r, _ in OTHER_ROWS]) == [v for _, v in OTHER_ROWS]


def test_as_known_at_compares_nanoseconds_too(store: FeatureStore) -> None:
    keys = sorted(AT_T_KNOWN)
    assert training(store, [(k, T) for k in keys], as_known_at=True) == [AT_T_KNOWN[k] for k in keys]
    assert training(store, [r for r, _ in OTHER_ROWS], as_known_at=True) == [v for _, v in OTHER_ROWS]


# as_known_at=True on a source without a created column is moot, and says so (test_modelling_traps.py)
@pytest.mark.filterwarnings("ignore::featurestore.errors.AsKnownAtIgnoredWarning")
def test_a_source_without_created_column_compares_nanoseconds_too(store: FeatureStore) -> None:
    """``pay_nc`` reads the same events without their created column: key 4's tie on the event time
    goes to the greater value, and as known at ``T`` every event is known from its event time."""
    expected = {**AT_T, 4: (11.0, 2, 6.0, 6.0, 2, 6.0)}
    keys = sorted(expected)
    for as_known_at in (False, True):
        got = training(store, [(k, T) for k in keys], "pay_nc", as_known_at=as_known_at)
        assert got == [expected[k] for k in keys], as_known_at
        assert training(store, [r for r, _ in OTHER_ROWS], "pay_nc", as_known_at=as_known_at) == [
            v for _, v in OTHER_ROWS
        ]
    store.materialize(end=T, views=["pay_nc"])
    assert online(store, keys, "pay_nc") == [expected[k] for k in keys]


def test_materialized_values_compare_nanoseconds_at_both_window_edges(store: FeatureStore) -> None:
    store.materialize(end=T)
    keys = sorted(AT_T)
    assert online(store, keys) == [AT_T[k] for k in keys]


def test_incremental_runs_see_events_a_nanosecond_past_the_watermark(
    store: FeatureStore, zone: str | None
) -> None:
    """The first run ends at ``S``. Key 7's only event, at ``S - W + 1ns``, is inside the window at
    ``S`` and has left it by ``T``. Key 9's only event, at ``S + 1ns``, is there at the first run: the
    lifetime states taken at ``S`` leave it out, and the second run counts it once. Keys 6 and 3 get an
    event within ``S``'s microsecond after the first run: the second run must rewrite them."""
    s_ns = T_NS - 30 * MINUTE
    s = T - timedelta(minutes=30)
    write_events(store.root, "1", [(7, s_ns - W + NS, 11.0, None), (9, s_ns + NS, 12.0, None)], zone)
    store.materialize(end=s)
    assert online(store, [7, 9]) == [(11.0, 1, 11.0, 11.0, 1, 11.0), (None, 0, None, None, 0, None)]
    write_events(store.root, "2", [(6, s_ns + NS, 9.0, None), (3, s_ns + 500 * NS, 1.0, None)], zone)
    store.materialize_incremental(end=T)
    expected = {
        **AT_T,
        3: (9.0, 3, 5.0, 3.0, 3, 3.0),  # the new event is older than the other two: last stays 3
        6: (9.0, 1, 9.0, 9.0, 1, 9.0),
        7: (None, 0, None, None, 1, 11.0),
        9: (12.0, 1, 12.0, 12.0, 1, 12.0),
    }
    keys = sorted(expected)
    assert online(store, keys) == [expected[k] for k in keys]
    assert training(store, [(k, T) for k in keys]) == [expected[k] for k in keys]


def test_lifetime_states_taken_before_nanoseconds_were_exact_are_rebuilt(store: FeatureStore) -> None:
    """States of a nanosecond source stored when its times were truncated to microseconds (a pointer
    without ``nanoseconds``) may hold events after their ``as_of``: a run reads the history instead."""
    store.materialize(end=T - timedelta(minutes=30))
    pointer = store.root / ".featurestore" / "aggregates" / "pay" / "pointer.json"
    data = json.loads(pointer.read_text())
    assert data.pop("nanoseconds") is True
    pointer.write_text(json.dumps(data))
    version = store.registry.view("pay").data_fingerprint
    partials = PartialStore(store.root)
    assert partials.current("pay", version, nanoseconds=True) is None
    assert partials.current("pay", version) is not None  # what a microsecond source would reuse
    store.materialize_incremental(end=T)
    assert partials.current("pay", version, nanoseconds=True) is not None
    keys = sorted(AT_T)
    assert online(store, keys) == [AT_T[k] for k in keys]
