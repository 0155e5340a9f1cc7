"""Hand-checked point-in-time tables: one test (or more) per rule of DESIGN.md's semantics.

Every expected output below is written out by hand. Times are close to ``T`` = 2024-01-01 12:00 UTC.
Views (see ``DEFS``):

- ``stats``  driver, ttl 1h, created column; features ``a`` int64, ``b`` string
- ``daily``  driver, ttl 1 day, no created column; features ``c`` float64, ``d`` string
- ``life``   driver, ttl None; feature ``e`` int64
- ``pair``   driver + customer (composite key), ttl None; feature ``p`` int64
- ``rider``  a string key ``rider_id``, ttl None; feature ``r`` string
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from featurestore.errors import AsKnownAtIgnoredWarning, FeatureNameCollisionError
from tests.pit_repo import make_repo, naive, rows, table_of, utc

DEFS = """
driver = Entity(name="driver", join_keys=["driver_id"])
customer = Entity(name="customer", join_keys=["customer_id"])
rider_entity = Entity(name="rider_entity", join_keys=["rider_id"])

stats = FeatureView(
    name="stats", entities=[driver], ttl=timedelta(hours=1),
    source=FileSource(name="stats_src", path="data/stats.parquet", timestamp_field="ts",
                      created_timestamp_field="created"),
    features=[Feature("a", "int64"), Feature("b", "string")],
)
daily = FeatureView(
    name="daily", entities=[driver], ttl=timedelta(days=1),
    source=FileSource(name="daily_src", path="data/daily.parquet", timestamp_field="ts"),
    features=[Feature("c", "float64"), Feature("d", "string")],
)
life = FeatureView(
    name="life", entities=[driver], ttl=None,
    source=FileSource(name="life_src", path="data/life.parquet", timestamp_field="ts"),
    features=[Feature("e", "int64")],
)
pair = FeatureView(
    name="pair", entities=[driver, customer], ttl=None,
    source=FileSource(name="pair_src", path="data/pair.parquet", timestamp_field="ts"),
    features=[Feature("p", "int64")],
)
rider = FeatureView(
    name="rider", entities=[rider_entity], ttl=None,
    source=FileSource(name="rider_src", path="data/rider.parquet", timestamp_field="ts"),
    features=[Feature("r", "string")],
)
svc = FeatureService(name="svc", features=[stats[["b"]], daily])
"""

TS = pa.timestamp("us")
TYPES = {
    "driver_id": pa.int64(),
    "customer_id": pa.int64(),
    "rider_id": pa.string(),
    "ts": TS,
    "created": TS,
    "event_timestamp": TS,
    "a": pa.int64(),
    "b": pa.string(),
    "c": pa.float64(),
    "d": pa.string(),
    "e": pa.int64(),
    "p": pa.int64(),
    "r": pa.string(),
}
HEADERS = {
    "stats": ("driver_id", "ts", "created", "a", "b"),
    "daily": ("driver_id", "ts", "c", "d"),
    "life": ("driver_id", "ts", "e"),
    "pair": ("driver_id", "customer_id", "ts", "p"),
    "rider": ("rider_id", "ts", "r"),
}

T = naive(2024, 1, 1, 12)  # the usual entity row time, naive = UTC
US = timedelta(microseconds=1)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def feature_rows(view: str, *body: tuple[Any, ...]) -> pa.Table:
    return table_of(HEADERS[view], *body, types=TYPES)


def entity_rows(header: tuple[str, ...], *body: tuple[Any, ...], **types: pa.DataType) -> pa.Table:
    return table_of(header, *body, types={**TYPES, **types})


Build = Callable[..., FeatureStore]


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Build]:
    """``repo(stats=table, ...)``: the repo of ``DEFS`` with these rows (other views empty), applied."""
    stores: list[FeatureStore] = []

    def build(**tables: pa.Table) -> FeatureStore:
        unknown = set(tables) - set(HEADERS)
        assert not unknown, unknown
        data = {f"data/{name}.parquet": tables.get(name, feature_rows(name)) for name in HEADERS}
        store = make_repo(tmp_path, DEFS, data)
        stores.append(store)
        return store

    yield build
    for store in stores:
        store.close()


def features_at(
    store: FeatureStore, entity: Any, features: Any, *names: str, **kwargs: Any
) -> list[tuple[Any, ...]]:
    """Run the training set and return the columns ``names`` as row tuples."""
    return rows(store.get_training_set(entity, features, **kwargs).to_arrow(), *names)


# -- rule 1: candidates are rows with matching keys and ts <= t (and ts >= t - ttl) -------------


def test_row_exactly_at_t_counts_and_a_row_one_microsecond_later_does_not(repo: Build) -> None:
    store = repo(
        stats=feature_rows(
            "stats",
            (1, T - MIN, T - MIN, 1, "before"),
            (1, T, T, 2, "at"),
            (1, T + US, T + US, 3, "after"),
            (2, T + US, T + US, 4, "after"),
        )
    )
    entity = entity_rows(
        ("driver_id", "event_timestamp"),
        (1, T),
        (2, T),
        (1, T + US),
        (1, T - US),
    )
    assert features_at(store, entity, ["stats:a", "stats:b"], "driver_id", "a", "b") == [
        (1, 2, "at"),
        (2, None, None),
        (1, 3, "after"),
        (1, 1, "before"),
    ]


def test_ttl_lower_bound_is_inclusive(repo: Build) -> None:
    # stats has ttl = 1h: a row stamped exactly t - 1h is usable, one stamped 1us earlier is not.
    store = repo(
        stats=feature_rows(
            "stats",
            (1, T - HOUR, T - HOUR, 1, "on the boundary"),
            (2, T - HOUR - US, T - HOUR, 2, "1us too old"),
            (3, T - HOUR - US, T - HOUR, 3, "stale"),
            (3, T + MIN, T + MIN, 4, "future"),
        )
    )
    entity = entity_rows(
        ("driver_id", "event_timestamp"),
        (1, T),
        (2, T),
        (2, T - US),
        (3, T),
        (1, T + US),
    )
    assert features_at(store, entity, ["stats:a"], "a") == [(1,), (None,), (2,), (None,), (None,)]


def test_no_ttl_means_no_lower_bound(repo: Build) -> None:
    store = repo(
        life=feature_rows(
            "life",
            (1, naive(1999, 12, 31), 7),
            (1, T + US, 8),
            (2, naive(1970, 1, 1), 9),
        )
    )
    entity = entity_rows(("driver_id", "event_timestamp"), (1, T), (2, T), (1, naive(2100, 1, 1)))
    assert features_at(store, entity, ["life:e"], "e") == [(7,), (9,), (8,)]


# -- rule 2: the greatest ts; ties to the greatest created; then the documented tie rule --------


def test_ties_on_event_time_go_to_the_greatest_created_time(repo: Build) -> None:
    store = repo(
        stats=feature_rows(
            "stats",
            (1, T - MIN, T - MIN, 1, "x"),
            (1, T - MIN, T - MIN + 30 * US, 2, "x"),  # latest created wins
            (1, T - MIN, T - MIN + 10 * US, 3, "x"),
            (1, T - 2 * MIN, T + DAY, 4, "x"),  # older event time loses whatever its created
            (2, T - MIN, None, 9, "z"),  # a null created sorts lowest
            (2, T - MIN, T - HOUR, 5, "a"),
            (3, T - MIN, T + DAY, 6, "x"),  # created after t still counts by default
            (3, T - MIN, T - MIN, 7, "x"),
        )
    )
    entity = entity_rows(("driver_id", "event_timestamp"), (1, T), (2, T), (3, T))
    assert features_at(store, entity, ["stats:a", "stats:b"], "a", "b") == [(2, "x"), (5, "a"), (6, "x")]


def test_rows_tied_on_both_timestamps_go_to_the_greatest_feature_values(repo: Build) -> None:
    # The documented rule: compare feature values in declared order (a, then b), nulls lowest.
    at = T - MIN
    store = repo(
        stats=feature_rows(
            "stats",
            (1, at, at, 1, "z"),
            (1, at, at, 2, "a"),  # a decides: 2 > 1
            (2, at, at, 2, "a"),
            (2, at, at, 2, "b"),  # a ties, b decides
            (2, at, at, 2, None),
            (3, at, at, None, "z"),
            (3, at, at, 0, "a"),  # a null a is lowest
            (4, at, at, None, None),
            (4, at, at, None, "c"),
            (5, at, None, 1, "x"),  # created null on both: still the feature rule
            (5, at, None, 3, "w"),
        )
    )
    entity = entity_rows(("driver_id", "event_timestamp"), *[(k, T) for k in (1, 2, 3, 4, 5)])
    expected = [(2, "a"), (2, "b"), (0, "a"), (None, "c"), (3, "w")]
    assert features_at(store, entity, ["stats:a", "stats:b"], "a", "b") == expected
    # The rule uses every declared feature in declared order, whatever was requested.
    assert features_at(store, entity, ["stats:b"], "b") == [("a",), ("b",), ("a",), ("c",), ("w",)]
    assert features_at(store, entity, ["stats:b", "stats:a"], "a", "b") == expected


def test_ties_in_a_source_without_created_column_go_to_the_greatest_feature_values(repo: Build) -> None:
    at = T - MIN
    store = repo(
        daily=feature_rows(
            "daily",
            (1, at, 1.5, "x"),
            (1, at, 2.5, "a"),
            (1, at, None, "zz"),
            (2, at, None, None),
            (2, at, None, "q"),
        )
    )
    entity = entity_rows(("driver_id", "event_timestamp"), (1, T), (2, T))
    assert features_at(store, entity, ["daily:d", "daily:c"], "c", "d") == [(2.5, "a"), (None, "q")]


def test_ties_in_several_views_of_one_training_set_follow_the_rule_in_each(repo: Build) -> None:
    # The views' ASOF joins run as one chain (each onto the previous one's rows): every view still
    # applies the rule to its own ties, nulls lowest, with duplicate entity rows kept in input order.
    at = T - MIN
    store = repo(
        stats=feature_rows(
            "stats",
            (1, at, at, 1, None),
            (1, at, at, 1, "b"),  # a ties, b decides: a null b is lowest
            (1, at, at - US, 9, "z"),  # created one microsecond earlier: loses whatever its values
            (2, at, None, None, "z"),
            (2, at, None, 0, "a"),  # created null on both, a decides: a null a is lowest
        ),
        daily=feature_rows(
            "daily",
            (1, at, None, "x"),
            (1, at, -1.5, "a"),  # no created column: c decides, a null c is lowest
            (2, at, 2.5, None),
            (2, at, 2.5, "q"),
        ),
        pair=feature_rows(
            "pair",
            (1, 7, at, None),
            (1, 7, at, 3),
            (1, 8, at, 4),
            (2, 7, at, 5),
        ),
        life=feature_rows("life", (1, at, None), (1, at, None), (2, at, 6), (2, at, 6)),
    )
    entity = entity_rows(
        ("driver_id", "customer_id", "event_timestamp"), (2, 7, T), (1, 7, T), (2, 7, T), (1, 8, at - US)
    )
    got = features_at(
        store,
        entity,
        ["life:e", "stats:a", "pair:p", "daily:c", "stats:b", "daily:d"],
        "driver_id",
        "e",
        "a",
        "p",
        "c",
        "b",
        "d",
    )
    assert got == [
        (2, 6, 0, 5, 2.5, "a", "q"),
        (1, None, 1, 3, -1.5, "b", "a"),
        (2, 6, 0, 5, 2.5, "a", "q"),
        (1, None, None, None, None, None, None),  # just before every row of driver 1
    ]


def test_a_feature_named_like_another_views_join_key(tmp_path: Path) -> None:
    # The chain of joins carries the keys later views join on beside the features so far: a feature
    # called ``customer_id`` must not be mistaken for the key of the view joined after it.
    defs = """
driver = Entity(name="driver", join_keys=["driver_id"])
customer = Entity(name="customer", join_keys=["customer_id"])
trips = FeatureView(
    name="trips", entities=[driver], ttl=None,
    source=FileSource(name="trips_src", path="data/trips.parquet", timestamp_field="ts"),
    features=[Feature("customer_id", "int64")],
)
spend = FeatureView(
    name="spend", entities=[customer], ttl=None,
    source=FileSource(name="spend_src", path="data/spend.parquet", timestamp_field="ts"),
    features=[Feature("driver_id", "int64")],
)
"""
    types = {"driver_id": pa.int64(), "customer_id": pa.int64(), "ts": TS}
    data = {
        "data/trips.parquet": table_of(("driver_id", "ts", "customer_id"), (1, T - MIN, 500), types=types),
        "data/spend.parquet": table_of(("customer_id", "ts", "driver_id"), (7, T - MIN, 900), types=types),
    }
    store = make_repo(tmp_path, defs, data)
    try:
        entity = entity_rows(("driver_id", "customer_id", "event_timestamp"), (1, 7, T), (1, 8, T))
        table = store.get_training_set(
            entity, ["trips:customer_id", "spend:driver_id"], full_feature_names=True
        ).to_arrow()
        got = rows(table, "driver_id", "customer_id", "trips__customer_id", "spend__driver_id")
        assert got == [(1, 7, 500, 900), (1, 8, 500, None)]
    finally:
        store.close()


# -- rule 3: no candidate -> nulls; null keys match nothing; bad feature rows are ignored -------


def test_no_candidate_nulls_every_feature_of_that_view_only(repo: Build) -> None:
    store = repo(
        stats=feature_rows("stats", (1, T + MIN, T + MIN, 1, "later"), (2, T - MIN, T - MIN, 2, "x")),
        daily=feature_rows("daily", (1, T - HOUR, 0.5, "d1"), (2, T - HOUR, 1.5, "d2")),
    )
    entity = entity_rows(("driver_id", "event_timestamp"), (1, T), (2, T), (3, T))
    got = features_at(store, entity, ["stats:a", "stats:b", "daily:c", "daily:d"], "a", "b", "c", "d")
    assert got == [
        (None, None, 0.5, "d1"),
        (2, "x", 1.5, "d2"),
        (None, None, None, None),
    ]


@pytest.mark.parametrize("as_known_at", [False, True])
def test_a_null_join_key_in_an_entity_row_matches_nothing(repo: Build, as_known_at: bool) -> None:
    store = repo(
        stats=feature_rows(
            "stats",
            (None, T - MIN, T - MIN, 99, "null key"),
            (1, T - MIN, T - MIN, 1, "one"),
        )
    )
    entity = entity_rows(("driver_id", "event_timestamp"), (None, T), (1, T), (None, T))
    got = features_at(store, entity, ["stats:a", "stats:b"], "driver_id", "a", "b", as_known_at=as_known_at)
    assert got == [(None, None, None), (1, 1, "one"), (None, None, None)]


@pytest.mark.parametrize("as_known_at", [False, True])
def test_an_entity_row_with_a_null_timestamp_gets_null_features(repo: Build, as_known_at: bool) -> None:
    store = repo(
        stats=feature_rows("stats", (1, T - MIN, T - MIN, 1, "one")),
        life=feature_rows("life", (1, naive(2000, 1, 1), 5)),
    )
    entity = entity_rows(("driver_id", "event_timestamp"), (1, None), (1, T), (1, None))
    got = features_at(
        store, entity, ["stats:a", "life:e"], "event_timestamp", "a", "e", as_known_at=as_known_at
    )
    assert got == [(None, None, None), (utc(2024, 1, 1, 12), 1, 5), (None, None, None)]


@pytest.mark.parametrize("as_known_at", [False, True])
def test_feature_rows_with_a_null_key_or_null_event_time_are_ignored(repo: Build, as_known_at: bool) -> None:
    store = repo(
        stats=feature_rows(
            "stats",
            (1, None, T - HOUR, 100, "null ts"),
            (2, None, T - HOUR, 200, "null ts"),
            (2, T - MIN, T - MIN, 2, "two"),
            (None, T - MIN, T - MIN, 300, "null key"),
        ),
        pair=feature_rows(
            "pair",
            (None, 10, T - MIN, 1),
            (1, None, T - MIN, 2),
            (1, 10, None, 3),
        ),
    )
    entity = entity_rows(("driver_id", "customer_id", "event_timestamp"), (1, 10, T), (2, 10, T), (3, 10, T))
    got = features_at(store, entity, ["stats:a", "stats:b", "pair:p"], "a", "b", "p", as_known_at=as_known_at)
    assert got == [(None, None, None), (2, "two", None), (None, None, None)]


# -- rule 4: one row per input row, input order, duplicates, pass-through, feature order --------


def test_one_output_row_per_input_row_in_input_order_with_duplicates_kept(repo: Build) -> None:
    store = repo(
        stats=feature_rows(
            "stats",
            (1, T - 40 * MIN, T - 40 * MIN, 10, "x"),
            (1, T - 10 * MIN, T - 10 * MIN, 11, "y"),
            (2, T - 5 * MIN, T - 5 * MIN, 20, "z"),
        )
    )
    # Deliberately shuffled in time and key, with exact duplicates.
    entity = entity_rows(
        ("row", "driver_id", "event_timestamp"),
        ("r0", 2, T),
        ("r1", 1, T - 30 * MIN),
        ("r2", 1, T),
        ("r3", 2, T),
        ("r4", 3, T),
        ("r5", 1, T - 30 * MIN),
        ("r6", 2, T - 6 * MIN),
        ("r7", 1, T - 50 * MIN),
        ("r8", 2, T),
    )
    assert features_at(store, entity, ["stats:a"], "row", "driver_id", "a") == [
        ("r0", 2, 20),
        ("r1", 1, 10),
        ("r2", 1, 11),
        ("r3", 2, 20),
        ("r4", 3, None),
        ("r5", 1, 10),
        ("r6", 2, None),
        ("r7", 1, None),
        ("r8", 2, 20),
    ]


PASS_THROUGH = {
    "label": pa.array(["x", None, ""], pa.string()),
    "i8": pa.array([-1, None, 127], pa.int8()),
    "i32": pa.array([1, 2, None], pa.int32()),
    "u64": pa.array([2**63, None, 0], pa.uint64()),
    "f32": pa.array([1.5, None, -0.0], pa.float32()),
    "f64": pa.array([0.25, None, 1e300], pa.float64()),
    "flag": pa.array([True, None, False], pa.bool_()),
    "amount": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-3.00")], pa.decimal128(10, 2)),
    "raw": pa.array([b"\x00\xff", None, b""], pa.binary()),
    "day": pa.array([dt.date(2024, 1, 1), None, dt.date(1970, 1, 1)], pa.date32()),
    "seen_us": pa.array([naive(2020, 5, 5, 1, 2, 3, 4), None, naive(2024, 1, 1)], pa.timestamp("us")),
    "seen_ms": pa.array([naive(2020, 5, 5, 1, 2, 3), None, naive(2024, 1, 1)], pa.timestamp("ms")),
    "seen_utc": pa.array([utc(2020, 5, 5), None, utc(2024, 1, 1)], pa.timestamp("us", tz="UTC")),
    "at": pa.array([dt.time(1, 2, 3), None, dt.time(0)], pa.time64("us")),
    "tags": pa.array([[1, 2], None, []], pa.list_(pa.int64())),
    "nothing": pa.array([None, None, None], pa.null()),
}


def _pass_through_entity(columns: dict[str, pa.Array]) -> pa.Table:
    keys = {
        "driver_id": pa.array([1, 2, 1], pa.int64()),
        "event_timestamp": pa.array([T, T, T - HOUR], pa.timestamp("us")),
    }
    # The key and the timestamp sit between the other columns: order must be kept too.
    names = list(columns)
    middle = len(names) // 2
    ordered = {n: columns[n] for n in names[:middle]} | keys | {n: columns[n] for n in names[middle:]}
    return pa.table(ordered)


def test_every_input_column_passes_through_unchanged_before_the_features(repo: Build) -> None:
    store = repo(stats=feature_rows("stats", (1, T - MIN, T - MIN, 1, "x")))
    entity = _pass_through_entity(PASS_THROUGH)
    out = store.get_training_set(entity, ["stats:a"]).to_arrow()
    assert out.column_names == [*entity.column_names, "a"]
    for name in PASS_THROUGH:
        assert out.schema.field(name).type == entity.schema.field(name).type, name
        assert out.column(name).to_pylist() == entity.column(name).to_pylist(), name
    assert out.column("a").to_pylist() == [1, None, None]


def test_polars_and_pandas_input_columns_pass_through_unchanged(repo: Build) -> None:
    store = repo(stats=feature_rows("stats", (1, T - MIN, T - MIN, 1, "x")))
    frame = pl.DataFrame(
        {
            "label": ["x", None, "z"],
            "driver_id": [1, 2, 1],
            "score": [0.5, None, 2.0],
            "n": pl.Series([1, None, 3], dtype=pl.Int16),
            "event_timestamp": [T, T, T - HOUR],
            "when": [dt.date(2024, 1, 1), None, dt.date(2024, 1, 3)],
            "flag": [True, False, None],
        }
    )
    out = store.get_training_set(frame, ["stats:a"]).to_polars()
    assert out.columns == [*frame.columns, "a"]
    others = [c for c in frame.columns if c != "event_timestamp"]
    assert out.select(others).equals(frame.select(others))
    assert out.select(others).schema == frame.select(others).schema

    pframe = frame.to_pandas()
    pout = store.get_training_set(pframe, ["stats:a"]).to_pandas()
    assert list(pout.columns) == [*pframe.columns, "a"]
    pd.testing.assert_frame_equal(
        pout[["label", "driver_id", "score"]], pframe[["label", "driver_id", "score"]]
    )
    assert pout["a"].iloc[0] == 1
    assert pout["a"].isna().tolist() == [False, True, True]


@pytest.mark.parametrize(
    "column",
    [
        pa.array([utc(2020, 5, 5, 10), None, utc(2024, 1, 1)], pa.timestamp("us", tz="Europe/Paris")),
        pa.array([utc(2020, 5, 5, 10), None, utc(2024, 1, 1)], pa.timestamp("ns", tz="America/New_York")),
        pa.array([timedelta(minutes=3), None, timedelta(0)], pa.duration("us")),
    ],
    ids=["aware-paris", "aware-new-york-ns", "duration"],
)
def test_zoned_and_duration_input_columns_pass_through_unchanged(repo: Build, column: pa.Array) -> None:
    # Rule 4 says "every input column passed through unchanged": same values, same type (and zone).
    store = repo(stats=feature_rows("stats", (1, T - MIN, T - MIN, 1, "x")))
    entity = _pass_through_entity({"extra": column})
    out = store.get_training_set(entity, ["stats:a"]).to_arrow()
    assert out.schema.field("extra").type == column.type
    assert out.column("extra").to_pylist() == column.to_pylist()


@pytest.fixture
def three_views(repo: Build) -> FeatureStore:
    return repo(
        stats=feature_rows("stats", (1, T - MIN, T - MIN, 1, "x")),
        daily=feature_rows("daily", (1, T - MIN, 2.5, "y")),
        life=feature_rows("life", (1, T - MIN, 3)),
    )


def test_feature_columns_come_in_the_requested_order(three_views: FeatureStore) -> None:
    entity = entity_rows(("driver_id", "event_timestamp"), (1, T))
    ts = three_views.get_training_set(entity, ["stats:b", "stats:a", "life:e", "daily:c"])
    out = ts.to_arrow()
    assert out.column_names == ["driver_id", "event_timestamp", "b", "a", "e", "c"]
    assert rows(out, "b", "a", "e", "c") == [("x", 1, 3, 2.5)]
    assert ts.columns == out.column_names
    # "view:*" means every feature of the view in declared order.
    star = three_views.get_training_set(entity, ["daily:*", "stats:*"]).to_arrow()
    assert star.column_names == ["driver_id", "event_timestamp", "c", "d", "a", "b"]


def test_feature_columns_of_different_views_interleave_in_the_requested_order(
    three_views: FeatureStore,
) -> None:
    # Rule 4: "then the feature columns in the requested order", even when views alternate.
    entity = entity_rows(("driver_id", "event_timestamp"), (1, T))
    ts = three_views.get_training_set(entity, ["stats:b", "daily:d", "stats:a", "life:e", "daily:c"])
    out = ts.to_arrow()
    assert out.column_names == ["driver_id", "event_timestamp", "b", "d", "a", "e", "c"]
    assert rows(out, "b", "d", "a", "e", "c") == [("x", "y", 1, 3, 2.5)]
    assert ts.columns == out.column_names


def test_full_feature_names_are_view_double_underscore_feature(repo: Build) -> None:
    store = repo(
        stats=feature_rows("stats", (1, T - MIN, T - MIN, 1, "x")),
        daily=feature_rows("daily", (1, T - MIN, 2.5, "y")),
    )
    entity = entity_rows(("driver_id", "event_timestamp"), (1, T))
    ts = store.get_training_set(entity, ["stats:b", "stats:a", "daily:c"], full_feature_names=True)
    out = ts.to_arrow()
    assert out.column_names == ["driver_id", "event_timestamp", "stats__b", "stats__a", "daily__c"]
    assert rows(out, "stats__b", "stats__a", "daily__c") == [("x", 1, 2.5)]


def test_a_feature_name_collision_without_full_names_is_an_error(tmp_path: Path) -> None:
    defs = (
        DEFS
        + """
stats_copy = FeatureView(
    name="stats_copy", entities=[driver], ttl=None,
    source=FileSource(name="copy_src", path="data/stats.parquet", timestamp_field="ts"),
    features=[Feature("a", "int64")],
)
"""
    )
    data = {f"data/{name}.parquet": feature_rows(name) for name in HEADERS}
    data["data/stats.parquet"] = feature_rows("stats", (1, T - MIN, T - MIN, 1, "x"))
    with make_repo(tmp_path, defs, data) as store:
        entity = entity_rows(("driver_id", "event_timestamp"), (1, T))
        with pytest.raises(FeatureNameCollisionError, match=r"full_feature_names=True") as info:
            store.get_training_set(entity, ["stats:a", "stats_copy:a"])
        assert "'a'" in str(info.value)
        out = store.get_training_set(entity, ["stats:a", "stats_copy:a"], full_feature_names=True).to_arrow()
        assert rows(out, "stats__a", "stats_copy__a") == [(1, 1)]
        # A feature named like an input column collides too.
        clashing = entity.append_column("b", pa.array(["mine"]))
        with pytest.raises(FeatureNameCollisionError, match=r"'b'"):
            store.get_training_set(clashing, ["stats:b"])
        out = store.get_training_set(clashing, ["stats:b"], full_feature_names=True).to_arrow()
        assert rows(out, "b", "stats__b") == [("mine", "x")]


# -- composite keys, several views, string keys --------------------------------------------------


def test_composite_keys_match_on_every_key_and_never_partially(repo: Build) -> None:
    store = repo(
        pair=feature_rows(
            "pair",
            (1, 10, T - HOUR, 110),
            (1, 20, T - HOUR, 120),
            (2, 10, T - HOUR, 210),
            (1, 10, T - MIN, 111),
        )
    )
    entity = entity_rows(
        ("driver_id", "customer_id", "event_timestamp"),
        (1, 10, T),
        (1, 20, T),
        (2, 20, T),  # driver 2 and customer 20 both exist, but never together
        (2, 10, T),
        (1, None, T),
        (None, 10, T),
        (3, 10, T),
        (10, 1, T),  # the keys swapped
        (1, 10, T - 30 * MIN),
    )
    assert features_at(store, entity, ["pair:p"], "p") == [
        (111,),
        (120,),
        (None,),
        (210,),
        (None,),
        (None,),
        (None,),
        (None,),
        (110,),
    ]


def test_several_views_with_different_ttls_in_one_request(repo: Build) -> None:
    store = repo(
        stats=feature_rows("stats", (1, T, T, 1, "x")),  # ttl 1h
        daily=feature_rows("daily", (1, T, 2.0, "y")),  # ttl 1 day
        life=feature_rows("life", (1, T, 3)),  # no ttl
    )
    entity = entity_rows(
        ("driver_id", "event_timestamp"),
        (1, T - US),
        (1, T),
        (1, T + HOUR),
        (1, T + HOUR + US),
        (1, T + DAY),
        (1, T + DAY + US),
        (1, naive(2030, 1, 1)),
    )
    assert features_at(store, entity, ["stats:a", "daily:c", "life:e"], "a", "c", "e") == [
        (None, None, None),
        (1, 2.0, 3),
        (1, 2.0, 3),
        (None, 2.0, 3),
        (None, 2.0, 3),
        (None, None, 3),
        (None, None, 3),
    ]


def test_string_join_keys(repo: Build) -> None:
    store = repo(
        rider=feature_rows(
            "rider",
            ("a", T - MIN, "lower a"),
            ("A", T - MIN, "upper A"),
            ("", T - MIN, "empty"),
            ("1", T - MIN, "one"),
            ("é", T - MIN, "accent"),
            ("a ", T - MIN, "trailing space"),
        )
    )
    entity = entity_rows(
        ("rider_id", "event_timestamp"),
        ("A", T),
        ("a", T),
        ("", T),
        ("é", T),
        ("1", T),
        ("a ", T),
        ("b", T),
        (None, T),
        (" a", T),
    )
    assert features_at(store, entity, ["rider:r"], "r") == [
        ("upper A",),
        ("lower a",),
        ("empty",),
        ("accent",),
        ("one",),
        ("trailing space",),
        (None,),
        (None,),
        (None,),
    ]


# -- rule 5: timestamps ---------------------------------------------------------------------------


def test_naive_and_aware_entity_timestamps_of_the_same_instant_agree(repo: Build) -> None:
    store = repo(
        stats=feature_rows(
            "stats",
            (1, T - MIN, T - MIN, 1, "before"),
            (1, T, T, 2, "at"),
            (1, T + US, T + US, 3, "after"),
        )
    )
    # 12:00 UTC written four ways; 12:00 in New York would be 17:00 UTC (a later value).
    instants = {
        "naive": pa.array([T], pa.timestamp("us")),
        "utc": pa.array([utc(2024, 1, 1, 12)], pa.timestamp("us", tz="UTC")),
        "new_york": pa.array([utc(2024, 1, 1, 12)], pa.timestamp("us", tz="America/New_York")),
        "kolkata_ms": pa.array([utc(2024, 1, 1, 12)], pa.timestamp("ms", tz="Asia/Kolkata")),
        "naive_s": pa.array([T], pa.timestamp("s")),
    }
    for name, column in instants.items():
        entity = pa.table({"driver_id": [1], "event_timestamp": column})
        out = store.get_training_set(entity, ["stats:b"]).to_arrow()
        assert rows(out, "event_timestamp", "b") == [(utc(2024, 1, 1, 12), "at")], name
        assert out.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC"), name
    # Local midnight in Kolkata is 18:30 UTC the day before: naive values are not local time.
    local = pd.DataFrame(
        {"driver_id": [1, 1], "event_timestamp": pd.to_datetime(["2024-01-01 17:30", "2024-01-01 12:00"])}
    )
    local["event_timestamp"] = local["event_timestamp"].dt.tz_localize("Asia/Kolkata")
    out = store.get_training_set(local, ["stats:b"]).to_arrow()
    assert rows(out, "event_timestamp", "b") == [
        (utc(2024, 1, 1, 12), "at"),
        (utc(2024, 1, 1, 6, 30), None),
    ]


def test_naive_and_aware_source_timestamps_of_the_same_instant_agree(tmp_path: Path) -> None:
    defs = """
    driver = Entity(name="driver", join_keys=["driver_id"])
    zoned = FeatureView(
        name="zoned", entities=[driver], ttl=timedelta(hours=1),
        source=FileSource(name="zoned_src", path="data/zoned.parquet", timestamp_field="ts"),
        features=[Feature("z", "int64")],
    )
    """
    data = {
        "data/zoned.parquet": pa.table(
            {
                "driver_id": [1, 1, 2],
                # 07:00 in New York = 12:00 UTC; 12:00:00.000001 UTC; 11:00 UTC (exactly t - ttl).
                "ts": pa.array(
                    [utc(2024, 1, 1, 12), utc(2024, 1, 1, 12, 0, 0, 1), utc(2024, 1, 1, 11)],
                    pa.timestamp("us", tz="America/New_York"),
                ),
                "z": [1, 2, 3],
            }
        )
    }
    with make_repo(tmp_path, defs, data) as store:
        entity = entity_rows(("driver_id", "event_timestamp"), (1, T), (2, T), (2, T + US))
        assert features_at(store, entity, ["zoned:z"], "z") == [(1,), (3,), (None,)]


MACHINE_ZONE_SCRIPT = '''
import pathlib
import sys

import pyarrow as pa

from tests.pit_repo import make_repo, naive, rows, utc

defs = """
driver = Entity(name="driver", join_keys=["driver_id"])
zoned = FeatureView(
    name="zoned", entities=[driver], ttl=timedelta(hours=1),
    source=FileSource(name="zoned_src", path="data/zoned.parquet", timestamp_field="ts"),
    features=[Feature("z", "int64")],
)
plain = FeatureView(
    name="plain", entities=[driver], ttl=timedelta(hours=1),
    source=FileSource(name="plain_src", path="data/plain.parquet", timestamp_field="ts"),
    features=[Feature("n", "int64")],
)
"""
aware = pa.timestamp("us", tz="UTC")
data = {
    "data/zoned.parquet": pa.table({"driver_id": [1, 1], "z": [1, 2], "ts": pa.array(
        [utc(2024, 1, 1, 11), utc(2024, 1, 1, 12, 0, 0, 1)], aware)}),
    "data/plain.parquet": pa.table({"driver_id": [1, 1], "n": [3, 4], "ts": pa.array(
        [naive(2024, 1, 1, 11), naive(2024, 1, 1, 12, 0, 0, 1)], pa.timestamp("us"))}),
}
with make_repo(pathlib.Path(sys.argv[1]), defs, data) as store:
    entity = pa.table({"driver_id": [1, 1], "event_timestamp": pa.array(
        [naive(2024, 1, 1, 12), naive(2024, 1, 1, 12, 0, 0, 1)], pa.timestamp("us"))})
    out = store.get_training_set(entity, ["zoned:z", "plain:n"]).to_arrow()
    print(out.schema.field("event_timestamp").type)
    print([(k, t.isoformat(), z, n) for k, t, z, n in rows(out)])
'''


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/New_York"])
def test_the_machine_time_zone_changes_nothing(tmp_path: Path, zone: str) -> None:
    # Naive means UTC on every machine, whatever its local zone (TZ) says.
    env = {**os.environ, "TZ": zone, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(
        [sys.executable, "-c", MACHINE_ZONE_SCRIPT, str(tmp_path / "repo")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    expected = [
        (1, "2024-01-01T12:00:00+00:00", 1, 3),
        (1, "2024-01-01T12:00:00.000001+00:00", 2, 4),
    ]
    assert done.stdout.splitlines() == ["timestamp[us, tz=UTC]", repr(expected)]


def test_date_entity_timestamps_mean_midnight_utc(repo: Build) -> None:
    midnight = naive(2024, 1, 1)
    store = repo(
        stats=feature_rows(
            "stats",
            (1, midnight - HOUR, midnight - HOUR, 1, "on the ttl boundary"),
            (2, midnight, midnight, 2, "at midnight"),
            (2, midnight + US, midnight + US, 3, "after midnight"),
            (3, midnight - HOUR - US, midnight, 4, "too old"),
        )
    )
    entity = pa.table(
        {
            "driver_id": [1, 2, 3, 2],
            "event_timestamp": pa.array(
                [dt.date(2024, 1, 1), dt.date(2024, 1, 1), dt.date(2024, 1, 1), dt.date(2024, 1, 2)],
                pa.date32(),
            ),
        }
    )
    out = store.get_training_set(entity, ["stats:a"]).to_arrow()
    assert out.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert rows(out) == [
        (1, utc(2024, 1, 1), 1),
        (2, utc(2024, 1, 1), 2),
        (3, utc(2024, 1, 1), None),
        (2, utc(2024, 1, 2), None),  # a day later: "after midnight" is older than the 1h ttl
    ]
    # The same as polars dates.
    frame = pl.DataFrame({"driver_id": [1, 2], "event_timestamp": [dt.date(2024, 1, 1), dt.date(2024, 1, 1)]})
    assert features_at(store, frame, ["stats:a"], "event_timestamp", "a") == [
        (utc(2024, 1, 1), 1),
        (utc(2024, 1, 1), 2),
    ]


def test_nanosecond_entity_timestamps_are_truncated_to_microseconds(repo: Build) -> None:
    store = repo(
        stats=feature_rows(
            "stats",
            (1, T, T, 1, "at 12:00:00.000000"),
            (1, T + US, T + US, 2, "at 12:00:00.000001"),
        )
    )
    noon_ns = 1_704_110_400_000_000_000  # 2024-01-01 12:00:00 UTC in nanoseconds
    entity = pa.table(
        {
            "driver_id": [1, 1, 1],
            "event_timestamp": pa.array(
                [noon_ns + 999, noon_ns + 1_000, noon_ns + 1_999], pa.timestamp("ns", tz="UTC")
            ),
        }
    )
    out = store.get_training_set(entity, ["stats:a"]).to_arrow()
    assert out.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert rows(out, "event_timestamp", "a") == [
        (utc(2024, 1, 1, 12), 1),  # .000000999 -> .000000: the row at .000001 is still in the future
        (utc(2024, 1, 1, 12, 0, 0, 1), 2),
        (utc(2024, 1, 1, 12, 0, 0, 1), 2),
    ]


def test_nanosecond_source_timestamps_compare_exactly(tmp_path: Path) -> None:
    # Feature-row times are compared at full precision with the entity row's time: a row 1 ns
    # after t is after t, a row 1 ns before t - ttl is too old, and the latest row wins by its
    # nanoseconds even inside one microsecond.
    defs = """
    driver = Entity(name="driver", join_keys=["driver_id"])
    fine = FeatureView(
        name="fine", entities=[driver], ttl=timedelta(hours=1),
        source=FileSource(name="fine_src", path="data/fine.parquet", timestamp_field="ts"),
        features=[Feature("f", "int64")],
    )
    """
    noon_ns = 1_704_110_400_000_000_000
    hour_ns = 3_600_000_000_000
    minute_ns = 60_000_000_000
    data = {
        "data/fine.parquet": table_of(
            ("driver_id", "ts", "f"),
            (1, noon_ns + 1, 1),  # 1 ns after t
            (1, noon_ns - minute_ns, 10),
            (2, noon_ns - hour_ns - 500, 2),  # 10:59:59.9999995
            (3, noon_ns - hour_ns, 3),  # exactly t - ttl
            (4, noon_ns - hour_ns - 1, 4),  # 1 ns before t - ttl
            (5, noon_ns - minute_ns + 200, 6),  # three rows within one microsecond
            (5, noon_ns - minute_ns + 100, 5),
            (5, noon_ns - minute_ns, 7),
            (6, -1, 8),  # 1969-12-31 23:59:59.999999999
            (7, -1_001, 9),  # 1969-12-31 23:59:59.999998999
            types={"ts": pa.timestamp("ns")},
        )
    }
    epoch = naive(1970, 1, 1)
    with make_repo(tmp_path, defs, data) as store:
        entity = entity_rows(
            ("driver_id", "event_timestamp"),
            (1, T),  # the row 1 ns after t is not a candidate
            (1, T + US),  # ... and is one a microsecond later
            (2, T - US),  # t - ttl = 10:59:59.999999 <= 10:59:59.9999995
            (2, T),  # 500 ns too old
            (3, T),  # the ttl bound is inclusive
            (4, T),  # 1 ns too old
            (5, T),  # .0000002 is the latest of the three
            (5, T - MIN),  # the two rows after t - 1 min (by 100 and 200 ns) are not candidates
            (6, epoch),  # before 1970 too: -1 ns <= 0
            (6, epoch - US),  # -1 ns > -1000 ns
            (7, epoch - US),  # -1001 ns <= -1000 ns
        )
        expected = [(10,), (1,), (2,), (None,), (3,), (None,), (6,), (7,), (8,), (None,), (9,)]
        assert features_at(store, entity, ["fine:f"], "f") == expected
        # The range join agrees with the ASOF join; 'fine' has no created time, so it says it is moot.
        with pytest.warns(AsKnownAtIgnoredWarning, match=r"view 'fine': source 'fine_src'"):
            assert features_at(store, entity, ["fine:f"], "f", as_known_at=True) == expected
        # An entity row's answer never depends on the other rows of the request.
        for i, want in enumerate(expected):
            assert features_at(store, entity.slice(i, 1), ["fine:f"], "f") == [want], i


def test_output_timestamps_are_utc_aware(tmp_path: Path) -> None:
    defs = """
    driver = Entity(name="driver", join_keys=["driver_id"])
    times = FeatureView(
        name="times", entities=[driver], ttl=None,
        source=FileSource(name="times_src", path="data/times.parquet", timestamp_field="ts"),
        features=[Feature("last_trip", "timestamp"), Feature("signup", "timestamp")],
    )
    """
    data = {
        "data/times.parquet": pa.table(
            {
                "driver_id": [1],
                "ts": pa.array([T - MIN], pa.timestamp("us")),
                "last_trip": pa.array([naive(2023, 12, 31, 23, 59, 59, 999999)], pa.timestamp("us")),
                "signup": pa.array([utc(2020, 2, 2, 2)], pa.timestamp("ms", tz="Asia/Tokyo")),
            }
        )
    }
    with make_repo(tmp_path, defs, data) as store:
        entity = entity_rows(("driver_id", "event_timestamp"), (1, T), (2, T))
        out = store.get_training_set(entity, ["times:last_trip", "times:signup"]).to_arrow()
        for name in ("event_timestamp", "last_trip", "signup"):
            assert out.schema.field(name).type == pa.timestamp("us", tz="UTC"), name
        assert rows(out, "event_timestamp", "last_trip", "signup") == [
            (utc(2024, 1, 1, 12), utc(2023, 12, 31, 23, 59, 59, 999999), utc(2020, 2, 2, 2)),
            (utc(2024, 1, 1, 12), None, None),
        ]


# -- rule 6: as known at ----------------------------------------------------------------------------


def test_as_known_at_ignores_values_created_after_t(repo: Build) -> None:
    store = repo(
        stats=feature_rows(
            "stats",
            (1, T - 30 * MIN, T - 30 * MIN, 1, "known"),
            (1, T - 10 * MIN, T + DAY, 2, "back-filled"),
            (2, T - 10 * MIN, T - 10 * MIN, 5, "first version"),
            (2, T - 10 * MIN, T + HOUR, 6, "restated later"),
            (3, T - 10 * MIN, T, 7, "created exactly at t"),
            (3, T - 20 * MIN, T - 20 * MIN, 70, "older"),
            (4, T - 2 * HOUR, T - 2 * HOUR, 8, "older than ttl"),
            (4, T - 30 * MIN, T + US, 9, "created 1us after t"),
            (5, T - 30 * MIN, None, 10, "null created"),
        ),
        daily=feature_rows(  # no created column: rows are known from their event time
            "daily",
            (1, T - HOUR, 1.0, "old"),
            (1, T, 2.0, "at t"),
            (1, T + US, 3.0, "after t"),
        ),
    )
    entity = entity_rows(("driver_id", "event_timestamp"), *[(k, T) for k in (1, 2, 3, 4, 5)])
    features = ["stats:a", "stats:b", "daily:c"]
    assert features_at(store, entity, features, "a", "b", "c") == [
        (2, "back-filled", 2.0),
        (6, "restated later", None),
        (7, "created exactly at t", None),
        (9, "created 1us after t", None),
        (10, "null created", None),
    ]
    assert features_at(store, entity, features, "a", "b", "c", as_known_at=True) == [
        (1, "known", 2.0),
        (5, "first version", None),
        (7, "created exactly at t", None),
        (None, None, None),  # the only value known at t is older than the ttl
        (None, None, None),  # a null created time is never known to be <= t: no candidate
    ]


# -- entity_df forms, empty input ---------------------------------------------------------------


def test_every_form_of_entity_df_gives_the_same_result(repo: Build, tmp_path: Path) -> None:
    store = repo(
        stats=feature_rows(
            "stats",
            (1, T - 30 * MIN, T - 30 * MIN, 1, "x"),
            (2, T - 10 * MIN, T - 10 * MIN, 2, "y"),
        )
    )
    arrow = entity_rows(
        ("driver_id", "event_timestamp", "label"),
        (2, T, "first"),
        (1, T - 40 * MIN, "second"),
        (1, T, "third"),
        (3, T, None),
    )
    expected = {
        "driver_id": [2, 1, 1, 3],
        "event_timestamp": [
            utc(2024, 1, 1, 12),
            utc(2024, 1, 1, 11, 20),
            utc(2024, 1, 1, 12),
            utc(2024, 1, 1, 12),
        ],
        "label": ["first", "second", "third", None],
        "a": [2, None, 1, None],
        "b": ["y", None, "x", None],
    }
    path = tmp_path / "entities.parquet"
    pq.write_table(arrow, path)
    sql = (
        "SELECT * FROM (VALUES "
        "(2::BIGINT, TIMESTAMP '2024-01-01 12:00:00', 'first'), "
        "(1, TIMESTAMP '2024-01-01 11:20:00', 'second'), "
        "(1, TIMESTAMP '2024-01-01 12:00:00', 'third'), "
        "(3, TIMESTAMP '2024-01-01 12:00:00', NULL)"
        ") AS t(driver_id, event_timestamp, label)"
    )
    forms: dict[str, Any] = {
        "arrow": arrow,
        "polars": pl.from_arrow(arrow),
        "pandas": arrow.to_pandas(),
        "parquet str": str(path),
        "parquet Path": path,
        "sql": sql,  # SQL may not read files (tests/test_trust_model.py): a file is passed as its path
    }
    for name, entity in forms.items():
        ts = store.get_training_set(entity, ["stats:a", "stats:b"])
        assert ts.to_arrow().to_pydict() == expected, name
        assert ts.to_polars().to_dict(as_series=False) == expected, name
        out = tmp_path / f"out-{name.replace(' ', '-')}.parquet"
        assert pq.read_table(ts.to_parquet(out)).to_pydict() == expected, name


@pytest.mark.parametrize("full_feature_names", [False, True])
def test_an_empty_entity_df_gives_an_empty_result_with_the_right_schema(
    repo: Build, tmp_path: Path, full_feature_names: bool
) -> None:
    store = repo(
        stats=feature_rows("stats", (1, T - MIN, T - MIN, 1, "x")),
        daily=feature_rows("daily", (1, T - MIN, 2.5, "y")),
    )
    entity = pa.table(
        {
            "driver_id": pa.array([], pa.int64()),
            "event_timestamp": pa.array([], pa.timestamp("us")),
            "label": pa.array([], pa.string()),
            "weight": pa.array([], pa.float32()),
        }
    )
    a, b, c = ("stats__a", "stats__b", "daily__c") if full_feature_names else ("a", "b", "c")
    expected = pa.schema(
        [
            ("driver_id", pa.int64()),
            ("event_timestamp", pa.timestamp("us", tz="UTC")),
            ("label", pa.string()),
            ("weight", pa.float32()),
            (a, pa.int64()),
            (b, pa.string()),
            (c, pa.float64()),
        ]
    )
    features = ["stats:a", "stats:b", "daily:c"]
    for as_known_at in (False, True):  # two different joins, one schema
        ts = store.get_training_set(
            entity, features, full_feature_names=full_feature_names, as_known_at=as_known_at
        )
        out = ts.to_arrow()
        assert out.num_rows == 0
        assert out.schema.remove_metadata() == expected
        written = ts.to_parquet(tmp_path / f"empty-{as_known_at}.parquet")
        assert pq.read_schema(written).remove_metadata() == expected
    frame = pl.DataFrame(
        schema={
            "driver_id": pl.Int64,
            "event_timestamp": pl.Datetime("us"),
            "label": pl.String,
            "weight": pl.Float32,
        }
    )
    out_frame = store.get_training_set(frame, features, full_feature_names=full_feature_names).to_polars()
    assert out_frame.shape == (0, 7)
    assert out_frame.schema == pl.Schema(
        {
            "driver_id": pl.Int64,
            "event_timestamp": pl.Datetime("us", "UTC"),
            "label": pl.String,
            "weight": pl.Float32,
            a: pl.Int64,
            b: pl.String,
            c: pl.Float64,
        }
    )


# -- feature services, subsets --------------------------------------------------------------------


def test_a_feature_service_with_a_subset_and_a_whole_view(repo: Build) -> None:
    store = repo(
        stats=feature_rows("stats", (1, T - MIN, T - MIN, 1, "x")),
        daily=feature_rows("daily", (1, T - MIN, 2.5, "y"), (2, T - 2 * DAY, 9.9, "too old")),
    )
    entity = entity_rows(("driver_id", "event_timestamp"), (1, T), (2, T))
    expected = [(1, "x", 2.5, "y"), (2, None, None, None)]
    by_name = store.get_training_set(entity, "svc").to_arrow()
    assert by_name.column_names == ["driver_id", "event_timestamp", "b", "c", "d"]
    assert rows(by_name, "driver_id", "b", "c", "d") == expected
    service = store.registry.service("svc")
    by_object = store.get_training_set(entity, service, full_feature_names=True).to_arrow()
    assert by_object.column_names == ["driver_id", "event_timestamp", "stats__b", "daily__c", "daily__d"]
    assert rows(by_object, "driver_id", "stats__b", "daily__c", "daily__d") == expected


# -- other kinds of sources -------------------------------------------------------------------------

SOURCES_DEFS = """
driver = Entity(name="driver", join_keys=["driver_id"])
from_sql = FeatureView(
    name="from_sql", entities=[driver], ttl=timedelta(hours=1),
    source=SqlSource(
        name="sql_src",
        query='''
            SELECT driver_id, ts, s FROM (VALUES
                (1, TIMESTAMP '2024-01-01 11:00:00', 10),
                (1, TIMESTAMP '2024-01-01 12:00:00', 11),
                (1, TIMESTAMP '2024-01-01 12:00:00.000001', 12),
                (2, TIMESTAMP '2024-01-01 10:59:59.999999', 20),
                (3, TIMESTAMP '2024-01-01 11:30:00', 30),
                (3, TIMESTAMP '2024-01-01 11:30:00', 31)
            ) AS rows(driver_id, ts, s)
        ''',
        timestamp_field="ts",
    ),
    features=[Feature("s", "int64")],
)
from_csv = FeatureView(
    name="from_csv", entities=[driver], ttl=timedelta(hours=1),
    source=FileSource(name="csv_src", path="data/csv_rows.csv", timestamp_field="ts",
                      created_timestamp_field="created"),
    features=[Feature("v", "float64"), Feature("w", "string")],
)
from_hive = FeatureView(
    name="from_hive", entities=[driver], ttl=timedelta(days=1),
    source=FileSource(name="hive_src", path="data/hive", hive_partitioning=True, timestamp_field="ts"),
    features=[Feature("h", "int64"), Feature("day", "date")],
)
"""


@pytest.fixture
def sources_store(tmp_path: Path) -> Iterator[FeatureStore]:
    csv = table_of(
        ("driver_id", "ts", "created", "v", "w"),
        (1, T - HOUR, T - HOUR, 1.5, "on the boundary"),
        (1, T - 10 * MIN, T - 10 * MIN, 2.5, "first"),
        (1, T - 10 * MIN, T - 5 * MIN, 3.5, "restated"),
        (2, T - HOUR - US, T - HOUR, 4.5, "too old"),
        (3, T + US, T + US, 5.5, "future"),
        types=TYPES,
    )
    data: dict[str, Any] = {
        "data/csv_rows.csv": csv,
        "data/hive/day=2023-12-31/part-0.parquet": table_of(
            ("driver_id", "ts", "h"),
            (1, naive(2023, 12, 31, 12), 1),
            (2, naive(2023, 12, 31, 11, 59), 2),
            types=TYPES,
        ),
        "data/hive/day=2024-01-01/part-0.parquet": table_of(
            ("driver_id", "ts", "h"), (1, T, 3), (1, T + US, 4), types=TYPES
        ),
    }
    store = make_repo(tmp_path, SOURCES_DEFS, data)
    yield store
    store.close()


def test_a_view_over_a_sql_source(sources_store: FeatureStore) -> None:
    entity = entity_rows(
        ("driver_id", "event_timestamp"), (1, T), (1, T - US), (2, T), (2, T - US), (3, T), (4, T)
    )
    assert features_at(sources_store, entity, ["from_sql:s"], "s") == [
        (11,),
        (10,),
        (None,),
        (20,),
        (31,),
        (None,),
    ]


def test_a_sql_source_reads_files_relative_to_the_repo_root(tmp_path: Path) -> None:
    defs = """
    driver = Entity(name="driver", join_keys=["driver_id"])
    from_file_sql = FeatureView(
        name="from_file_sql", entities=[driver], ttl=None,
        source=SqlSource(
            name="file_sql_src",
            query="SELECT driver_id, ts, fs * 2 AS fs2 FROM read_parquet('data/for_sql.parquet')",
            timestamp_field="ts",
        ),
        features=[Feature("fs2", "int64")],
    )
    """
    data = {
        "data/for_sql.parquet": table_of(
            ("driver_id", "ts", "fs"), (1, T - DAY * 400, 21), (2, T + US, 5), types=TYPES
        )
    }
    with make_repo(tmp_path / "repo", defs, data) as store:
        entity = entity_rows(("driver_id", "event_timestamp"), (1, T), (2, T), (2, T + US))
        assert features_at(store, entity, ["from_file_sql:fs2"], "fs2") == [(42,), (None,), (10,)]


def test_a_view_over_a_csv_file(sources_store: FeatureStore) -> None:
    entity = entity_rows(
        ("driver_id", "event_timestamp"), (1, T), (1, T - 11 * MIN), (2, T), (2, T - US), (3, T), (3, T + US)
    )
    assert features_at(sources_store, entity, ["from_csv:w", "from_csv:v"], "w", "v") == [
        ("restated", 3.5),
        ("on the boundary", 1.5),
        (None, None),
        ("too old", 4.5),
        (None, None),
        ("future", 5.5),
    ]
    known = features_at(sources_store, entity[:2], ["from_csv:w"], "w", as_known_at=True)
    assert known == [("restated",), ("on the boundary",)]


def test_a_view_over_a_hive_partitioned_folder(sources_store: FeatureStore) -> None:
    entity = entity_rows(
        ("driver_id", "event_timestamp"),
        (1, T),
        (1, T - US),
        (1, T + US),
        (2, naive(2024, 1, 1, 11, 59)),  # exactly one day after 2023-12-31 11:59
        (2, naive(2024, 1, 1, 11, 59) + US),  # 1us more than a day
        (1, naive(2023, 12, 31, 12)),
    )
    assert features_at(sources_store, entity, ["from_hive:h", "from_hive:day"], "h", "day") == [
        (3, dt.date(2024, 1, 1)),
        (1, dt.date(2023, 12, 31)),
        (4, dt.date(2024, 1, 1)),
        (2, dt.date(2023, 12, 31)),
        (None, None),
        (1, dt.date(2023, 12, 31)),
    ]


# -- entity rows in a Parquet file, read by the engine itself ------------------------------------


@pytest.mark.parametrize(
    "times",
    [
        pa.array([T, T, None, T - HOUR, T], pa.timestamp("us")),
        pa.array([T, T, None, T - HOUR, T], pa.timestamp("ms")),
        pa.array([T, T, None, T - HOUR, T], pa.timestamp("s")),
        pa.array(
            [utc(2024, 1, 1, 12), utc(2024, 1, 1, 12), None, utc(2024, 1, 1, 11), utc(2024, 1, 1, 12)],
            pa.timestamp("ms", tz="Europe/Paris"),
        ),
        pa.array(
            [dt.date(2024, 1, 1), dt.date(2024, 1, 1), None, dt.date(2023, 12, 31), dt.date(2024, 1, 1)],
            pa.date32(),
        ),
        pa.array([T, T, None, T - HOUR, T], pa.timestamp("ns")),
    ],
    ids=["us", "ms", "s", "ms-paris", "date", "ns"],
)
def test_a_parquet_file_of_entity_rows_gives_what_its_table_gives(
    repo: Build, tmp_path: Path, times: pa.Array
) -> None:
    # Duplicates, a null key, a null time and every pass-through type, in the file and as a table.
    store = repo(
        stats=feature_rows(
            "stats",
            (1, T - MIN, T - MIN, 1, "x"),
            (1, T - 2 * HOUR, T - 2 * HOUR, 0, "old"),
            (2, naive(2024, 1, 1), naive(2024, 1, 1), 5, "midnight"),
        )
    )
    entity = pa.table(
        {"driver_id": pa.array([1, 1, 2, None, 2], pa.int64()), "event_timestamp": times}
        | {name: pa.concat_arrays([column, column[:2]]) for name, column in PASS_THROUGH.items()}
    )
    path = tmp_path / "entities.parquet"
    pq.write_table(entity, path)
    from_table = store.get_training_set(entity, ["stats:a", "stats:b"])
    from_file = store.get_training_set(str(path), ["stats:a", "stats:b"])
    expected = from_table.to_arrow()
    assert from_file.to_arrow().equals(expected)
    assert pq.read_table(from_file.to_parquet(tmp_path / "out.parquet")).equals(
        pq.read_table(from_table.to_parquet(tmp_path / "out-table.parquet"))
    )
    assert from_file.head(3).to_arrow().equals(expected.slice(0, 3))
    assert from_file.head(0).to_arrow().equals(expected.slice(0, 0))
    as_read = store.get_training_set(pq.read_table(path), ["stats:a", "stats:b"])  # list<element: ...>
    assert repr(from_file) == repr(as_read)


def test_entity_rows_from_a_file_go_beside_their_features_batch_by_batch(repo: Build, tmp_path: Path) -> None:
    # More rows than one batch of the file (entity_parquet.BATCH_ROWS) and small row groups: every batch
    # of features meets its own entity rows, wherever the file's batches end.
    store = repo(stats=feature_rows("stats", (1, T - MIN, T - MIN, 1, "x"), (2, T - HOUR, T - HOUR, 2, "y")))
    n = 150_001
    ids = pa.array([i % 3 for i in range(n)], pa.int64())
    times = pa.array([T - (i % 90) * MIN for i in range(n)], pa.timestamp("us"))
    entity = pa.table({"driver_id": ids, "event_timestamp": times, "i": pa.array(range(n), pa.int64())})
    path = tmp_path / "many.parquet"
    pq.write_table(entity, path, row_group_size=10_007)
    training = store.get_training_set(path, ["stats:a"])
    batches = list(training.to_batches(batch_size=7_919))
    assert [b.num_rows for b in batches[:2]] == [7_919, 7_919]
    whole = pa.concat_tables(batches)
    assert whole.column("i").to_pylist() == list(range(n))
    # Hand-checked: row i is at T - (i % 90) min; driver 1 has a = 1 from T - 1 min on (a row exactly at t
    # counts), driver 2 a = 2 from T - 1 h on (within the 1 h ttl for every row); driver 0 nothing.
    expected = [
        (1 if i % 90 <= 1 else None) if i % 3 == 1 else (2 if i % 90 <= 60 else None) if i % 3 == 2 else None
        for i in range(n)
    ]
    assert whole.column("a").to_pylist() == expected
    assert pq.read_table(training.to_parquet(tmp_path / "out.parquet")).equals(training.to_arrow())


def test_a_training_set_from_a_parquet_file_imports_no_pandas(repo: Build, tmp_path: Path) -> None:
    # pandas costs a third of a second to import: a training set from a file never needs it.
    store = repo(stats=feature_rows("stats", (1, T - MIN, T - MIN, 1, "x")))
    store.close()
    path = tmp_path / "entities.parquet"
    pq.write_table(entity_rows(("driver_id", "event_timestamp"), (1, T)), path)
    script = (
        "import sys\n"
        "from featurestore import FeatureStore\n"
        f"store = FeatureStore({str(store.root)!r})\n"
        f"out = store.get_training_set({str(path)!r}, ['stats:a']).to_arrow()\n"
        "assert out.column('a').to_pylist() == [1], out\n"
        "print(sorted(m for m in ('pandas', 'pyarrow.dataset') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
