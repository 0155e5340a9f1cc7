"""Float window sums, means and standard deviations equal the plain sum of the window's own values, to a
relative 1e-12 of the sum of their absolute values, whatever the key's history and whatever other entity
rows share the request; integer sums are exact. Offline (training sets) and online (materialized).

The reported case: a key with 3.38e12 long ago, then -2.51 in a 1h window; the window's sum came back as
-2.509765625 (a difference of running totals that carried the 3.38e12), and differently depending on
which other entity rows were in the request (they move the scan's lower time bound).
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore import FeatureStore
from tests.pit_repo import make_repo, table_of

H, US = timedelta(hours=1), timedelta(microseconds=1)
T = datetime(2024, 1, 4, 12)
TYPES = {"customer_id": pa.int64(), "ts": pa.timestamp("us"), "x": pa.float64(), "n": pa.int64(),
         "event_timestamp": pa.timestamp("us")}  # fmt: skip
HEADER = ("customer_id", "ts", "x", "n")
DEFS = """
from featurestore import Aggregation
customer = Entity(name="customer", join_keys=["customer_id"])
pay = FeatureView(
    name="pay", entities=[customer],
    source=FileSource(name="pay_src", path="data/pay.parquet", timestamp_field="ts"),
    aggregations=[
        Aggregation("x", "sum", timedelta(hours=1)), Aggregation("x", "mean", timedelta(hours=1)),
        Aggregation("x", "stddev", timedelta(hours=1)), Aggregation("x", "sum", None),
        Aggregation("n", "sum", timedelta(hours=1)), Aggregation("n", "sum", None),
    ],
)
"""
NAMES = ("x_sum_1h", "x_mean_1h", "x_stddev_1h", "x_sum_lifetime", "n_sum_1h", "n_sum_lifetime")
BIG_INT = 2**53 + 1  # not a double: an integer total kept as a double would lose the 1

REPORTED = table_of(
    HEADER,
    (1, T - 72 * H, 3.38e12, BIG_INT),  # far in the past
    (1, T - H / 2, -2.51, 1),
    (1, T - H / 6, 0.25, 2),
    (2, T - 72 * H, 1.0, 5),
    (2, T - H / 12, 0.1, 7),
    types=TYPES,
)


def entity_rows(*rows: tuple[int, datetime]) -> pa.Table:
    return table_of(("customer_id", "event_timestamp"), *rows, types=TYPES)


def training(store: FeatureStore, rows: pa.Table) -> list[dict[str, Any]]:
    return store.get_training_set(rows, [f"pay:{n}" for n in NAMES]).to_pylist_rows()


@pytest.fixture
def reported(tmp_path: Path) -> Iterator[FeatureStore]:
    with make_repo(tmp_path, DEFS, {"data/pay.parquet": REPORTED}) as store:
        yield store


def test_a_huge_value_long_ago_does_not_leak_into_a_small_window(reported: FeatureStore) -> None:
    alone = training(reported, entity_rows((1, T - H / 3)))
    # An early row widens the scan to the 3.38e12; other keys and times share the request.
    shared = training(reported, entity_rows((1, T - 70 * H), (1, T - H / 3), (2, T), (1, T), (3, T)))
    assert alone[0] == shared[1]
    row = shared[1]  # (1, T - 20min): the window (T - 80min, T - 20min] holds -2.51 only
    assert (row["x_sum_1h"], row["x_mean_1h"], row["x_stddev_1h"]) == (-2.51, -2.51, None)
    assert row["x_sum_lifetime"] == 3.38e12 + -2.51  # one addition: the exact sum, rounded once
    assert (row["n_sum_1h"], row["n_sum_lifetime"]) == (1, BIG_INT + 1)

    at_t = shared[3]  # (1, T): -2.51 and 0.25
    assert at_t["x_sum_1h"] == -2.51 + 0.25 == -2.26
    assert at_t["x_mean_1h"] == -1.13
    assert at_t["x_stddev_1h"] == pytest.approx(2.76 / math.sqrt(2), rel=1e-12)
    assert at_t["x_sum_lifetime"] == math.fsum([3.38e12, -2.51, 0.25])
    assert (at_t["n_sum_1h"], at_t["n_sum_lifetime"]) == (3, BIG_INT + 3)

    assert [shared[0][n] for n in ("x_sum_1h", "x_sum_lifetime", "n_sum_lifetime")] == [
        None,
        3.38e12,
        BIG_INT,
    ]
    assert (shared[2]["x_sum_1h"], shared[2]["x_sum_lifetime"], shared[2]["n_sum_lifetime"]) == (0.1, 1.1, 12)
    assert (shared[4]["x_sum_1h"], shared[4]["n_sum_lifetime"]) == (None, None)


def test_online_values_of_the_reported_case(reported: FeatureStore) -> None:
    reported.materialize(end=T)
    online = reported.get_online_features(
        [f"pay:{n}" for n in NAMES], {"customer_id": [1, 2]}, now=T
    ).to_dict()
    assert online["x_sum_1h"] == [-2.26, 0.1]
    assert online["x_mean_1h"] == [-1.13, 0.1]
    assert online["x_sum_lifetime"] == [math.fsum([3.38e12, -2.51, 0.25]), 1.1]
    assert online["n_sum_1h"] == [3, 7]
    assert online["n_sum_lifetime"] == [BIG_INT + 3, 12]


def test_keys_beyond_exact_totals_take_range_frames(tmp_path: Path) -> None:
    """Key 1 spans 1e-200..1e200 (too wide for 127-bit totals), key 2 holds an infinity, key 3 a NaN:
    their sums come from range frames over the window's values; key 4 is ordinary."""
    events = table_of(
        HEADER,
        (1, T - 72 * H, 1e200, 1), (1, T - H / 2, 1e-200, 1), (1, T - H / 4, 3e-200, 1),
        (2, T - 72 * H, math.inf, 1), (2, T - H / 2, 2.5, 1),
        (3, T - 72 * H, math.nan, 1), (3, T - H / 2, 2.5, 1),
        (4, T - 72 * H, 1e6, 1), (4, T - H / 2, 0.5, 1),
        types=TYPES,
    )  # fmt: skip
    with make_repo(tmp_path, DEFS, {"data/pay.parquet": events}) as store:
        got = training(store, entity_rows((1, T), (2, T), (3, T), (4, T), (2, T - 70 * H)))
    assert got[0]["x_sum_1h"] == 4e-200
    assert got[0]["x_mean_1h"] == 2e-200
    assert got[0]["x_sum_lifetime"] == 1e200
    assert (got[1]["x_sum_1h"], got[1]["x_sum_lifetime"]) == (2.5, math.inf)
    assert got[2]["x_sum_1h"] == 2.5
    assert math.isnan(got[2]["x_sum_lifetime"])
    assert (got[3]["x_sum_1h"], got[3]["x_sum_lifetime"]) == (0.5, 1e6 + 0.5)
    assert got[4]["x_sum_1h"] is None


# -- a property test with adversarial magnitudes -------------------------------------------------------

B = datetime(2021, 1, 1)
UNIT = timedelta(minutes=1)
OFFSETS = [k * UNIT for k in range(6)] + [2 * UNIT - US, 3 * UNIT + US]
WINDOWS: list[timedelta | None] = [UNIT, 3 * UNIT, None]
PROPERTY_DEFS = (
    "from featurestore import Aggregation\n"
    "customer = Entity(name='customer', join_keys=['customer_id'])\n"
    "ev = FeatureView(name='ev', entities=[customer],\n"
    "    source=FileSource(name='src', path='data/ev.parquet', timestamp_field='ts'), aggregations=[\n"
    + "".join(
        f"        Aggregation('x', {f!r}, {'None' if w is None else f'timedelta(microseconds={w // US})'},"
        f" name='x_{f}_{i}'),\n"
        for i, w in enumerate(WINDOWS)
        for f in ("sum", "mean", "stddev")
    )
    + "        Aggregation('n', 'sum', timedelta(minutes=1), name='n_sum_0'),\n"
    + "        Aggregation('n', 'sum', None, name='n_sum_2'),\n"
    + "    ])\n"
)
PROPERTY_NAMES = [f"x_{f}_{i}" for i in range(len(WINDOWS)) for f in ("sum", "mean", "stddev")]
PROPERTY_NAMES += ["n_sum_0", "n_sum_2"]

# Values that break running totals: ordinary amounts, any magnitude from 1e-150 to 1e150 (stddev squares
# them, so beyond that it over- or underflows whatever the method), exact cancellations and integers
# past 2^53.
amounts = st.floats(-1000, 1000, allow_nan=False).map(lambda v: round(v, 2))
sign = st.sampled_from([1.0, -1.0])
any_magnitude = st.builds(lambda s, m, e: s * m * 10.0**e, sign, st.floats(1, 9.99), st.integers(-150, 150))
special = st.sampled_from([3.38e12, -3.38e12, 1e15 + 1.0, 2.0**-60, 0.0, -0.0, 1e150, -1e150, 1e-150])
values = st.one_of(st.none(), amounts, any_magnitude, special)
integers = st.one_of(st.none(), st.integers(-(2**57), 2**57))
events = st.lists(
    st.tuples(st.sampled_from([1, 2, 3]), st.sampled_from(OFFSETS), values, integers), min_size=1, max_size=25
)
entity = st.lists(st.tuples(st.sampled_from([1, 2, 3, 4]), st.sampled_from(OFFSETS)), min_size=1, max_size=10)
BASES = itertools.count()  # each example its own day, so online writes (newer wins) never meet older ones


def window_values(
    data: list[dict[str, Any]], column: str, key: int, t: datetime, window: timedelta | None
) -> list[Any]:
    return [r[column] for r in data if r["customer_id"] == key and r[column] is not None and r["ts"] <= t
            and (window is None or r["ts"] > t - window)]  # fmt: skip


def check(name: str, got: Any, xs: list[float], ns: list[int]) -> None:
    """``got`` for aggregate ``name`` over the window's values ``xs`` (or ``ns``)."""
    if name.startswith("n_"):
        assert got == (sum(ns) if ns else None), (name, ns)
        return
    scale = math.fsum(abs(x) for x in xs)
    if name.startswith("x_sum"):
        expected = math.fsum(xs) if xs else None
        bound = 1e-12 * scale
    elif name.startswith("x_mean"):
        expected = math.fsum(xs) / len(xs) if xs else None
        bound = 1e-12 * scale / max(len(xs), 1)
    else:
        expected = statistics.stdev(xs) if len(xs) > 1 else None
        bound = 1e-12 * scale
    if expected is None or got is None:
        assert got is expected, (name, got, expected, xs)
        return
    assert abs(got - expected) <= bound, (name, got, expected, xs)


@pytest.fixture(scope="module")
def property_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureStore]:
    root = tmp_path_factory.mktemp("agg_precision")
    with make_repo(root, PROPERTY_DEFS, {"data/ev.parquet": table_of(HEADER, types=TYPES)}) as store:
        yield store


def write(store: FeatureStore, body: list[tuple[Any, ...]], base: datetime) -> list[dict[str, Any]]:
    body = [(k, base + offset, x, n) for k, offset, x, n in body]
    pq.write_table(table_of(HEADER, *body, types=TYPES), store.root / "data" / "ev.parquet")
    return [dict(zip(HEADER, row, strict=True)) for row in body]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=events, rows=entity)
def test_training_set_sums_match_fsum_of_the_window(
    property_store: FeatureStore, body: list[tuple[Any, ...]], rows: list[tuple[int, timedelta]]
) -> None:
    base = B + next(BASES) * timedelta(days=1)
    data = write(property_store, body, base)
    keyed = [(k, base + offset) for k, offset in rows]
    result = property_store.get_training_set(entity_rows(*keyed), [f"ev:{n}" for n in PROPERTY_NAMES])
    for (key, t), row in zip(keyed, result.to_pylist_rows(), strict=True):
        for i, window in enumerate(WINDOWS):
            xs = window_values(data, "x", key, t, window)
            ns = window_values(data, "n", key, t, window)
            for name in PROPERTY_NAMES:
                if name.endswith(f"_{i}"):
                    check(name, row[name], xs, ns)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=events, at=st.sampled_from(OFFSETS))
def test_materialized_sums_match_fsum_of_the_window(
    property_store: FeatureStore, body: list[tuple[Any, ...]], at: timedelta
) -> None:
    base = B + next(BASES) * timedelta(days=1)
    data = write(property_store, body, base)
    end = base + at
    keys = sorted({r["customer_id"] for r in data if r["ts"] <= end})  # the entities this run writes
    if not keys:
        return
    property_store.materialize(end=end)
    online = property_store.get_online_features(
        [f"ev:{n}" for n in PROPERTY_NAMES], {"customer_id": keys}, now=end
    ).to_dict()
    for j, key in enumerate(keys):
        for i, window in enumerate(WINDOWS):
            xs = window_values(data, "x", key, end, window)
            ns = window_values(data, "n", key, end, window)
            for name in PROPERTY_NAMES:
                if name.endswith(f"_{i}"):
                    check(name, online[name][j], xs, ns)
