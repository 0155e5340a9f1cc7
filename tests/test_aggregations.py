"""Hand-checked tables for windowed aggregations: every function at the window edges, empty windows,
ties, nulls, null keys, several views in one training set, as-known-at.

Every expected value below is worked out by hand. ``T`` = 2024-01-01 12:00 UTC. Views (``DEFS``):

- ``tx``     customer; events with ``amount`` float64, ``qty`` int64, ``merchant`` string, ``flag`` bool;
             each function over 1h, plus lifetime count/sum/max/last/count_distinct
- ``prof``   a plain feature view (customer, ttl None): ``tier``
- ``pairs``  customer + merchant (composite key), string merchant key: ``amount`` sum over 1d
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from featurestore import FeatureStore
from tests.pit_repo import make_repo, naive, rows, table_of

DEFS = """
from featurestore import Aggregation

customer = Entity(name="customer", join_keys=["customer_id"])
merchant = Entity(name="merchant", join_keys=["merchant"])
tx_src = FileSource(name="tx_src", path="data/tx.parquet", timestamp_field="ts",
                    created_timestamp_field="created")
H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
tx = FeatureView(
    name="tx", entities=[customer], source=tx_src,
    aggregations=[
        Aggregation("amount", "count", H), Aggregation("amount", "sum", H), Aggregation("amount", "mean", H),
        Aggregation("amount", "min", H), Aggregation("amount", "max", H), Aggregation("amount", "stddev", H),
        Aggregation("amount", "last", H), Aggregation("merchant", "count_distinct", H),
        Aggregation("qty", "sum", H), Aggregation("flag", "sum", H), Aggregation("flag", "mean", H),
        Aggregation("amount", "count", None), Aggregation("amount", "sum", None),
        Aggregation("amount", "max", None), Aggregation("merchant", "last", None),
        Aggregation("merchant", "count_distinct", None),
    ],
)
prof = FeatureView(
    name="prof", entities=[customer], ttl=None,
    source=FileSource(name="prof_src", path="data/prof.parquet", timestamp_field="ts"),
    features=[Feature("tier", "string")],
)
pairs = FeatureView(
    name="pairs", entities=[customer, merchant], source=tx_src,
    aggregations=[Aggregation("amount", "sum", timedelta(days=1), name="pair_amount_1d")],
)
svc = FeatureService(name="svc", features=[prof, tx[["amount_sum_1h", "amount_count_lifetime"]]])
"""

TS = pa.timestamp("us")
TYPES = {
    "customer_id": pa.int64(),
    "ts": TS,
    "created": TS,
    "event_timestamp": TS,
    "amount": pa.float64(),
    "qty": pa.int64(),
    "merchant": pa.string(),
    "flag": pa.bool_(),
    "tier": pa.string(),
}
TX = ("customer_id", "ts", "created", "amount", "qty", "merchant", "flag")
T = naive(2024, 1, 1, 12)
US = timedelta(microseconds=1)
H = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
C = naive(2024, 1, 1)  # a created time for rows where it does not matter

Build = Callable[..., FeatureStore]


def tx_rows(*body: tuple[Any, ...]) -> pa.Table:
    return table_of(TX, *body, types=TYPES)


def entity(*body: tuple[Any, ...]) -> pa.Table:
    return table_of(("customer_id", "event_timestamp"), *body, types=TYPES)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Build]:
    """``repo(tx=table, prof=table)``: the repo of ``DEFS`` with these rows, applied."""
    stores: list[FeatureStore] = []

    def build(tx: pa.Table | None = None, prof: pa.Table | None = None) -> FeatureStore:
        data = {
            "data/tx.parquet": tx if tx is not None else tx_rows(),
            "data/prof.parquet": prof
            if prof is not None
            else table_of(("customer_id", "ts", "tier"), types=TYPES),
        }
        store = make_repo(tmp_path, DEFS, data)
        stores.append(store)
        return store

    yield build
    for store in stores:
        store.close()


def values(
    store: FeatureStore, entity_rows: pa.Table, *features: str, **kwargs: Any
) -> list[tuple[Any, ...]]:
    """The requested aggregates of ``tx`` for each entity row, as tuples."""
    table = store.get_training_set(entity_rows, [f"tx:{f}" for f in features], **kwargs).to_arrow()
    return rows(table, *features)


# -- the window edges: (t - w, t], for every function ------------------------------------------------

EDGES = tx_rows(
    (1, T - H, C, 100.0, 10, "a", True),  # exactly t - 1h: outside the window at T
    (1, T - H + US, C, 3.0, 1, "b", False),  # just inside
    (1, T, C, 5.0, 2, "b", True),  # exactly t: inside
    (1, T + US, C, 1000.0, 7, "c", True),  # just after t: outside
)
EDGE_ROWS = entity((1, T - 2 * H), (1, T - H), (1, T - US), (1, T), (1, T + US))


def sd(*xs: float) -> float:
    mean = sum(xs) / len(xs)
    return math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))


@pytest.mark.parametrize("as_known_at", [False, True])
def test_every_function_at_the_window_edges(repo: Build, as_known_at: bool) -> None:
    store = repo(tx=EDGES)
    names = ("amount_count_1h", "amount_sum_1h", "amount_mean_1h", "amount_min_1h", "amount_max_1h")
    got = values(store, EDGE_ROWS, *names, as_known_at=as_known_at)
    assert got == [
        (0, None, None, None, None),  # T - 2h: (T-3h, T-2h] is empty
        (1, 100.0, 100.0, 100.0, 100.0),  # T - 1h: the event at T - 1h is at t
        (2, 103.0, 51.5, 3.0, 100.0),  # T - 1us: (T-1h-1us, T-1us] holds T-1h and T-1h+1us
        (2, 8.0, 4.0, 3.0, 5.0),  # T: (T-1h, T] holds T-1h+1us and T
        (2, 1005.0, 502.5, 5.0, 1000.0),  # T + 1us: (T-1h+1us, T+1us] holds T and T+1us
    ]
    others = ("amount_stddev_1h", "amount_last_1h", "merchant_count_distinct_1h")
    got = values(store, EDGE_ROWS, *others, as_known_at=as_known_at)
    expected = [
        (None, None, 0),
        (None, 100.0, 1),
        (sd(100, 3), 3.0, 2),
        (sd(3, 5), 5.0, 1),
        (sd(5, 1000), 1000.0, 2),
    ]
    assert len(got) == len(expected)
    for (std, last, distinct), (want_std, want_last, want_distinct) in zip(got, expected, strict=True):
        assert (last, distinct) == (want_last, want_distinct)
        assert std == pytest.approx(want_std) if want_std is not None else std is None


def test_integer_and_boolean_columns(repo: Build) -> None:
    store = repo(tx=EDGES)
    assert values(store, EDGE_ROWS, "qty_sum_1h", "flag_sum_1h", "flag_mean_1h") == [
        (None, None, None),
        (10, 1, 1.0),
        (11, 1, 0.5),
        (3, 1, 0.5),
        (9, 2, 1.0),
    ]
    table = store.get_training_set(
        EDGE_ROWS, ["tx:qty_sum_1h", "tx:flag_sum_1h", "tx:amount_count_1h"]
    ).to_arrow()
    assert [table.schema.field(n).type for n in ("qty_sum_1h", "flag_sum_1h", "amount_count_1h")] == [
        pa.int64(),
        pa.int64(),
        pa.int64(),
    ]


def test_lifetime_window_has_no_lower_edge(repo: Build) -> None:
    store = repo(tx=EDGES)
    names = ("amount_count_lifetime", "amount_sum_lifetime", "amount_max_lifetime", "merchant_last_lifetime",
             "merchant_count_distinct_lifetime")  # fmt: skip
    assert values(store, EDGE_ROWS, *names) == [
        (0, None, None, None, 0),
        (1, 100.0, 100.0, "a", 1),
        (2, 103.0, 100.0, "b", 2),
        (3, 108.0, 100.0, "b", 2),
        (4, 1108.0, 1000.0, "c", 3),
    ]


def test_an_event_far_before_the_window_is_outside_it(repo: Build) -> None:
    store = repo(tx=tx_rows((1, T - 400 * H, C, 9.0, 1, "x", True)))
    assert values(store, entity((1, T)), "amount_count_1h", "amount_max_1h", "amount_sum_lifetime") == [
        (0, None, 9.0)
    ]


# -- nulls ---------------------------------------------------------------------------------------------


def test_nulls_in_the_aggregated_column_are_ignored(repo: Build) -> None:
    store = repo(
        tx=tx_rows(
            (1, T - 30 * MINUTE, C, 4.0, None, "a", None),
            (1, T - 20 * MINUTE, C, None, None, None, None),
            (1, T - 10 * MINUTE, C, 6.0, None, None, None),
            (1, T, C, None, None, None, None),  # the latest event: every column null
        )
    )
    names = ("amount_count_1h", "amount_sum_1h", "amount_mean_1h", "amount_min_1h", "amount_last_1h",
             "merchant_count_distinct_1h", "merchant_last_lifetime", "qty_sum_1h",
             "flag_mean_1h")  # fmt: skip
    # count counts non-null values; last skips events whose value is null; an all-null column is empty.
    assert values(store, entity((1, T)), *names) == [(2, 10.0, 5.0, 4.0, 6.0, 1, "a", None, None)]


def test_a_window_holding_only_nulls_counts_zero(repo: Build) -> None:
    store = repo(tx=tx_rows((1, T, C, None, None, None, None)))
    assert values(
        store, entity((1, T)), "amount_count_1h", "amount_sum_1h", "merchant_count_distinct_1h"
    ) == [(0, None, 0)]


@pytest.mark.parametrize("as_known_at", [False, True])
def test_null_keys_and_null_times_in_entity_rows_match_nothing(repo: Build, as_known_at: bool) -> None:
    store = repo(tx=tx_rows((1, T, C, 5.0, 1, "a", True)))
    got = values(store, entity((None, T), (1, None), (1, T)), "amount_count_1h", "amount_sum_1h",
                 "amount_count_lifetime", as_known_at=as_known_at)  # fmt: skip
    assert got == [(0, None, 0), (0, None, 0), (1, 5.0, 1)]


def test_events_with_a_null_key_or_time_are_ignored(repo: Build) -> None:
    store = repo(
        tx=tx_rows(
            (None, T, C, 5.0, 1, "a", True), (1, None, C, 7.0, 1, "a", True), (1, T, C, 1.0, 1, "a", True)
        )
    )
    assert values(store, entity((1, T)), "amount_count_lifetime", "amount_sum_lifetime") == [(1, 1.0)]


# -- ties ----------------------------------------------------------------------------------------------


def test_events_sharing_keys_and_time_are_separate_events(repo: Build) -> None:
    store = repo(
        tx=tx_rows((1, T, C, 2.0, 1, "a", True), (1, T, C, 2.0, 1, "a", True), (1, T, C, 3.0, 1, "b", True))
    )
    assert values(store, entity((1, T), (1, T - US)), "amount_count_1h", "amount_sum_1h",
                  "merchant_count_distinct_1h") == [(3, 7.0, 2), (0, None, 0)]  # fmt: skip


@pytest.mark.parametrize("as_known_at", [False, True])
def test_last_breaks_ties_by_created_then_by_value(repo: Build, as_known_at: bool) -> None:
    later = C + H
    store = repo(
        tx=tx_rows(
            (1, T, C, 9.0, 1, "z", True),  # greatest value, but an earlier created time
            (1, T, later, 4.0, 1, "m", True),
            (1, T, later, 3.0, 1, "n", True),  # same created as the row above: greatest value wins
            (2, T, None, 9.0, 1, "x", True),  # a null created time sorts lowest
            (2, T, C, 1.0, 1, "w", True),
        )
    )
    got = values(store, entity((1, T), (2, T)), "amount_last_1h", "merchant_last_lifetime",
                 as_known_at=as_known_at)  # fmt: skip
    assert got == [(4.0, "n"), (1.0, "w")]


def test_entity_rows_tied_on_time_and_duplicated_all_get_their_values(repo: Build) -> None:
    store = repo(tx=tx_rows((1, T, C, 2.0, 1, "a", True), (2, T, C, 5.0, 1, "a", True)))
    got = values(store, entity((2, T), (1, T), (2, T), (1, T - H)), "amount_sum_1h", "amount_count_lifetime")
    assert got == [(5.0, 1), (2.0, 1), (5.0, 1), (None, 0)]


# -- several views, keys, services -------------------------------------------------------------------


def test_aggregation_and_plain_views_in_one_training_set_keep_order_and_columns(repo: Build) -> None:
    store = repo(
        tx=tx_rows(
            (1, T - H, C, 2.0, 1, "a", True), (1, T, C, 3.0, 1, "b", True), (2, T, C, 4.0, 1, "a", True)
        ),
        prof=table_of(("customer_id", "ts", "tier"), (1, T - H, "gold"), (2, T, "silver"), types=TYPES),
    )
    rows_in = table_of(("request", "customer_id", "merchant", "event_timestamp"), (10, 2, "a", T),
                       (11, 1, "b", T), (12, 1, "a", T - H), (13, 3, "a", T),
                       types={**TYPES, "request": pa.int64()})  # fmt: skip
    table = store.get_training_set(
        rows_in, ["tx:amount_sum_1h", "prof:tier", "tx:amount_count_lifetime", "pairs:pair_amount_1d"]
    ).to_arrow()
    assert table.column_names == ["request", "customer_id", "merchant", "event_timestamp", "amount_sum_1h",
                                  "tier", "amount_count_lifetime", "pair_amount_1d"]  # fmt: skip
    assert rows(table, "request", "amount_sum_1h", "tier", "amount_count_lifetime", "pair_amount_1d") == [
        (10, 4.0, "silver", 1, 4.0),
        (11, 3.0, "gold", 2, 3.0),
        (12, 2.0, "gold", 1, 2.0),
        (13, None, None, 0, None),
    ]


def test_composite_keys_aggregate_per_key_combination(repo: Build) -> None:
    store = repo(
        tx=tx_rows((1, T, C, 2.0, 1, "a", True), (1, T, C, 3.0, 1, "b", True), (1, T, C, 4.0, 1, "a", True))
    )
    rows_in = table_of(("customer_id", "merchant", "event_timestamp"), (1, "a", T), (1, "b", T), (1, "c", T),
                       (None, "a", T), types=TYPES)  # fmt: skip
    table = store.get_training_set(rows_in, ["pairs:pair_amount_1d"]).to_arrow()
    assert rows(table, "pair_amount_1d") == [(6.0,), (3.0,), (None,), (None,)]


def test_feature_services_and_full_feature_names(repo: Build) -> None:
    store = repo(
        tx=tx_rows((1, T, C, 2.0, 1, "a", True)),
        prof=table_of(("customer_id", "ts", "tier"), (1, T, "gold"), types=TYPES),
    )
    table = store.get_training_set(entity((1, T)), "svc", full_feature_names=True).to_arrow()
    assert table.column_names[2:] == ["prof__tier", "tx__amount_sum_1h", "tx__amount_count_lifetime"]
    assert rows(table)[0][2:] == ("gold", 2.0, 1)


def test_as_known_at_ignores_events_created_after_t(repo: Build) -> None:
    store = repo(tx=tx_rows((1, T - H / 2, T + H, 5.0, 1, "a", True), (1, T - H / 2, C, 1.0, 1, "b", True)))
    assert values(store, entity((1, T)), "amount_sum_1h", "amount_last_1h") == [(6.0, 5.0)]
    assert values(store, entity((1, T)), "amount_sum_1h", "amount_last_1h", as_known_at=True) == [(1.0, 1.0)]


def test_explain_names_the_sweep_and_no_dedup(repo: Build) -> None:
    store = repo(tx=EDGES)
    text = store.get_training_set(EDGE_ROWS, ["tx:amount_sum_1h", "tx:amount_max_1h"]).explain()
    assert "WindowAggregate view=tx" in text
    assert "running totals at t and t - window" in text
    assert "range frames" in text
    assert "no dedup" in text
    assert "RANGE BETWEEN 3599999999 PRECEDING AND CURRENT ROW" in text  # (t - 1h, t] in microseconds
