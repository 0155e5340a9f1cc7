"""A null created time, in both modes, on hand-checked rows (``T`` = 2024-01-01 12:00 UTC).

The rule: by default a row with a null created time is a candidate like any other, and in a tie on
the event time it loses to every row with a created time (null sorts lowest), whatever that time;
rows tied with null created times on both go to the feature values. With ``as_known_at=True`` it is
no candidate: nothing says it was known by ``t`` (Feast's joins leave such rows out too). A view
whose source has no created column knows each row from its event time.

``stats`` (created column, ttl 1 h; features ``a`` int64, ``b`` string):

====  ================================================  =========  ===========
key   rows (ts, created, a, b)                          default    as known at
====  ================================================  =========  ===========
1     (T-10m, null, 1) (T-20m, T-20m, 2)                1          2
2     (T-10m, null, 3) (T-10m, T-1d, 4)                 4          4
3     (T-10m, null, 30) (T-10m, T+1d, 31)               31         none
4     (T-10m, null, 40, "x") (T-10m, null, 41, "a")     41         none
5     (T-10m, null, 50) (T-2h, T-2h, 51)                50         none (51 is older than the ttl)
====  ================================================  =========  ===========

``plain`` (no created column, ttl none; feature ``c``): key 1 has (T-10m, 7.0) and (T+1us, 8.0):
7.0 in both modes.

Aggregation views follow the same rule: ``stats_agg`` aggregates ``a`` of ``stats`` over 1 h and the
lifetime, ``plain_agg`` sums ``c`` of ``plain`` (every row known from its event time).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from featurestore import FeatureStore
from tests.pit_repo import freeze_online_clock, make_repo, naive, rows, table_of

T = naive(2024, 1, 1, 12)
MIN = timedelta(minutes=1)
DAY = timedelta(days=1)
US = timedelta(microseconds=1)

DEFS = """
from featurestore import Aggregation
driver = Entity(name="driver", join_keys=["driver_id"])
stats_src = FileSource(name="stats_src", path="data/stats.parquet", timestamp_field="ts",
                       created_timestamp_field="created")
plain_src = FileSource(name="plain_src", path="data/plain.parquet", timestamp_field="ts")
stats = FeatureView(
    name="stats", entities=[driver], ttl=timedelta(hours=1), source=stats_src,
    features=[Feature("a", "int64"), Feature("b", "string")],
)
plain = FeatureView(
    name="plain", entities=[driver], ttl=None, source=plain_src, features=[Feature("c", "float64")],
)
H = timedelta(hours=1)
stats_agg = FeatureView(
    name="stats_agg", entities=[driver], source=stats_src,
    aggregations=[Aggregation("a", "count", H), Aggregation("a", "sum", H), Aggregation("a", "last", H),
                  Aggregation("a", "count", None), Aggregation("a", "max", None)],
)
plain_agg = FeatureView(
    name="plain_agg", entities=[driver], source=plain_src,
    aggregations=[Aggregation("c", "sum", H), Aggregation("c", "count", None)],
)
"""
TS = pa.timestamp("us")
TYPES = {
    "driver_id": pa.int64(),
    "ts": TS,
    "created": TS,
    "a": pa.int64(),
    "b": pa.string(),
    "c": pa.float64(),
}
STATS = table_of(
    ("driver_id", "ts", "created", "a", "b"),
    (1, T - 10 * MIN, None, 1, "null created, newer"),
    (1, T - 20 * MIN, T - 20 * MIN, 2, "known"),
    (2, T - 10 * MIN, None, 3, "null created"),
    (2, T - 10 * MIN, T - DAY, 4, "created long before"),
    (3, T - 10 * MIN, None, 30, "null created"),
    (3, T - 10 * MIN, T + DAY, 31, "created after t"),
    (4, T - 10 * MIN, None, 40, "x"),
    (4, T - 10 * MIN, None, 41, "a"),
    (5, T - 10 * MIN, None, 50, "null created"),
    (5, T - 120 * MIN, T - 120 * MIN, 51, "too old"),
    types=TYPES,
)
PLAIN = table_of(("driver_id", "ts", "c"), (1, T - 10 * MIN, 7.0), (1, T + US, 8.0), types=TYPES)
ENTITY = table_of(
    ("driver_id", "event_timestamp"), *[(k, T) for k in (1, 2, 3, 4, 5)], types={"event_timestamp": TS}
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    data = {"data/stats.parquet": STATS, "data/plain.parquet": PLAIN}
    with make_repo(tmp_path, DEFS, data) as built:
        yield built


def test_by_default_a_null_created_time_is_a_candidate_that_loses_ties(store: FeatureStore) -> None:
    out = store.get_training_set(ENTITY, ["stats:a", "stats:b", "plain:c"]).to_arrow()
    assert rows(out, "driver_id", "a", "b", "c") == [
        (1, 1, "null created, newer", 7.0),  # the greatest event time wins, created or not
        (2, 4, "created long before", None),  # a tie: any created time beats a null one
        (3, 31, "created after t", None),  # ... even one after t (the default ignores created <= t)
        (4, 41, "a", None),  # null on both: the feature values decide (41 > 40)
        (5, 50, "null created", None),
    ]


def test_as_known_at_a_null_created_time_is_no_candidate(store: FeatureStore) -> None:
    out = store.get_training_set(ENTITY, ["stats:a", "stats:b", "plain:c"], as_known_at=True).to_arrow()
    assert rows(out, "driver_id", "a", "b", "c") == [
        (1, 2, "known", 7.0),  # the older row with a created time; plain knows rows by event time
        (2, 4, "created long before", None),
        (3, None, None, None),  # one row created after t, one never known
        (4, None, None, None),
        (5, None, None, None),  # the only known row is older than the ttl
    ]
    # The same answers one view at a time (the single-view query has its own shape).
    alone = store.get_training_set(ENTITY, ["stats:a"], as_known_at=True).to_arrow()
    assert alone.column("a").to_pylist() == [2, 4, None, None, None]


AGGREGATES = ["a_count_1h", "a_sum_1h", "a_last_1h", "a_count_lifetime", "a_max_lifetime"]


@pytest.mark.parametrize(
    ("as_known_at", "expected"),
    [
        (
            False,  # every row is an event of the windows, created or not
            [
                (2, 3, 1, 2, 2),  # last: the greatest event time
                (2, 7, 4, 2, 4),  # a tie on the event time: any created time beats a null one
                (2, 61, 31, 2, 31),
                (2, 81, 41, 2, 41),  # null on both: the greater value
                (1, 50, 50, 2, 51),  # 51 is older than the window, not than the lifetime
            ],
        ),
        (
            True,  # rows with a null created time are in no window; 31 is created after t
            [
                (1, 2, 2, 1, 2),
                (1, 4, 4, 1, 4),
                (0, None, None, 0, None),
                (0, None, None, 0, None),
                (0, None, None, 1, 51),
            ],
        ),
    ],
)
def test_aggregations_leave_out_null_created_times_as_known_at(
    store: FeatureStore, as_known_at: bool, expected: list[tuple[object, ...]]
) -> None:
    refs = [f"stats_agg:{n}" for n in AGGREGATES] + ["plain_agg:c_sum_1h", "plain_agg:c_count_lifetime"]
    out = store.get_training_set(ENTITY, refs, as_known_at=as_known_at).to_arrow()
    assert rows(out, *AGGREGATES) == expected
    # No created column: each row known from its event time (T + 1us is after t in either mode).
    assert rows(out, "c_sum_1h", "c_count_lifetime") == [(7.0, 1)] + [(None, 0)] * 4


def test_online_values_follow_the_default_mode(store: FeatureStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # Materialization writes the latest value as of T by the default rule; verify agrees.
    freeze_online_clock(monkeypatch, T)
    store.materialize(end=T, views=["stats"])
    online = store.get_online_features(["stats:a"], {"driver_id": [1, 2, 3, 4, 5]}, now=T)
    assert online.to_dict()["a"] == [1, 4, 31, 41, 50]
    [check] = store.verify(sample=None, views=["stats"])
    assert (check.entities, check.mismatches) == (5, 0), check.examples
