"""Aggregation views online: after every materialization (full, incremental, with late rows, with
windows emptying), every entity's online values equal the training set at the materialization time.

The events live in a folder of Parquet files so a test can append. ``pay`` has a created column (late
rows are spotted by it); ``pay_nc`` has none (late rows are re-read through the look-back window).
Values are compared for every entity of the source plus one that has no events.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from featurestore.registry.files_backend import FilesBackend
from featurestore.registry.partials import PartialStore
from tests.pit_repo import make_repo

AGGREGATIONS = """[
        Aggregation("amount", "count", H), Aggregation("amount", "sum", H), Aggregation("amount", "last", H),
        Aggregation("amount", "max", D), Aggregation("amount", "mean", D), Aggregation("amount", "stddev", D),
        Aggregation("merchant", "count_distinct", D),
        Aggregation("amount", "count", None), Aggregation("amount", "sum", None),
        Aggregation("amount", "mean", None), Aggregation("amount", "min", None),
        Aggregation("amount", "stddev", None), Aggregation("amount", "last", None),
        Aggregation("merchant", "count_distinct", None), Aggregation("merchant", "last", None),
    ]"""
DEFS = f"""
from featurestore import Aggregation
H, D = timedelta(hours=1), timedelta(days=1)
customer = Entity(name="customer", join_keys=["customer_id"])
pay = FeatureView(
    name="pay", entities=[customer],
    source=FileSource(name="pay_src", path="data/pay", timestamp_field="ts",
                      created_timestamp_field="created"),
    aggregations={AGGREGATIONS},
)
pay_nc = FeatureView(
    name="pay_nc", entities=[customer],
    source=FileSource(name="pay_nc_src", path="data/pay_nc", timestamp_field="ts"),
    aggregations={AGGREGATIONS},
)
"""
SCHEMA = pa.schema(
    [("customer_id", pa.int64()), ("ts", pa.timestamp("us")), ("created", pa.timestamp("us")),
     ("amount", pa.float64()), ("merchant", pa.string())]
)  # fmt: skip
T1 = datetime(2024, 5, 10, 12)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def events(
    seed: int, n: int, start: datetime, end: datetime, created_delay: timedelta = HOUR / 60
) -> pa.Table:
    """``n`` payments of 12 customers (a few busy ones) between ``start`` (exclusive) and ``end``."""
    rng = np.random.default_rng(seed)
    span = int((end - start) / timedelta(microseconds=1))
    ts = np.datetime64(start, "us") + rng.integers(1, span + 1, n).astype("timedelta64[us]")
    ts[: n // 10] = ts[n // 10 : 2 * (n // 10)]  # ties on event time
    customers = rng.choice(np.arange(1, 13), n, p=np.linspace(3, 0.5, 12) / np.linspace(3, 0.5, 12).sum())
    amount = np.round(rng.gamma(2.0, 20.0, n), 2)
    null = rng.random(n) < 0.05
    return pa.table(
        {
            "customer_id": customers.astype(np.int64),
            "ts": pa.array(ts, pa.timestamp("us")),
            "created": pa.array(ts + np.timedelta64(created_delay), pa.timestamp("us")),
            "amount": pa.array(np.where(null, 0.0, amount), mask=null),
            "merchant": pa.array(rng.choice(["a", "b", "c", "d", "e"], n)),
        },
        schema=SCHEMA,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    for folder in ("pay", "pay_nc"):
        (tmp_path / "data" / folder).mkdir(parents=True)
        pq.write_table(events(1, 400, T1 - 5 * DAY, T1), tmp_path / "data" / folder / "0.parquet")
    with make_repo(tmp_path, DEFS) as store:
        yield store


def append(store: FeatureStore, name: str, table: pa.Table, *views: str) -> None:
    for view in views or ("pay", "pay_nc"):
        pq.write_table(table, store.root / "data" / view / f"{name}.parquet")


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def assert_online_equals_offline(store: FeatureStore, view: str, at: datetime) -> None:
    """Every entity of the view's source, and one without events: online at ``at`` == training set."""
    query = f"SELECT DISTINCT customer_id FROM '{store.root}/data/{view}/*.parquet'"
    keys = sorted(set(store.engine.to_arrow(query).column(0).to_pylist()) | {999})
    rows = pa.table({"customer_id": keys, "event_timestamp": pa.array([at] * len(keys), pa.timestamp("us"))})
    refs = [f"{view}:*"]
    offline = store.get_training_set(rows, refs).to_pylist_rows()
    online = store.get_online_features(refs, {"customer_id": keys}, now=at).to_dict()
    features = store.registry.view(view).view.feature_names
    bad = [(k, f, online[f][i], offline[i][f]) for i, k in enumerate(keys) for f in features
           if not same(online[f][i], offline[i][f])]  # fmt: skip
    assert not bad, f"{view} at {at}: (key, feature, online, offline): {bad[:10]}"
    checks = {c.view: c for c in store.verify(sample=None, views=[view])}
    assert checks[view].failures == 0, checks[view].examples


@pytest.mark.parametrize("view", ["pay", "pay_nc"])
def test_full_then_incremental_runs_match_the_training_set(store: FeatureStore, view: str) -> None:
    store.materialize(end=T1, views=[view])
    assert_online_equals_offline(store, view, T1)

    # New events, and late ones: stamped before T1 (within the 1h look-back) but landing now.
    t2 = T1 + 3 * HOUR
    append(store, "1", events(2, 120, T1, t2))
    append(store, "late", events(3, 15, T1 - HOUR / 2, T1, created_delay=4 * HOUR))
    run = store.materialize_incremental(end=t2, views=[view]).runs[0]
    assert run.entities_written > 0
    assert_online_equals_offline(store, view, t2)

    # Nothing new for two days: windows empty out; only entities whose windows held events are rewritten.
    t3 = t2 + 2 * DAY
    run = store.materialize_incremental(end=t3, views=[view]).runs[0]
    total = sum(pq.read_metadata(p).num_rows for p in (store.root / "data" / view).glob("*.parquet"))
    assert run.rows_read < total / 2, "an incremental run must not re-read the history"
    assert_online_equals_offline(store, view, t3)
    online = store.get_online_features([f"{view}:amount_count_1h"], {"customer_id": [1]}, now=t3).to_dict()
    assert online["amount_count_1h"] == [0]


def test_late_rows_far_before_the_watermark_are_found_by_their_created_time(store: FeatureStore) -> None:
    store.materialize(end=T1, views=["pay"])
    t2 = T1 + HOUR
    append(store, "old_late", events(4, 10, T1 - 3 * DAY, T1 - 2 * DAY, created_delay=3 * DAY), "pay")
    store.materialize_incremental(end=t2, views=["pay"])
    assert_online_equals_offline(store, "pay", t2)


def test_lifetime_partials_are_kept_and_advance(store: FeatureStore) -> None:
    store.materialize(end=T1)
    partials = PartialStore(store.root)
    pay = partials.current("pay", store.registry.view("pay").data_fingerprint)
    pay_nc = partials.current("pay_nc", store.registry.view("pay_nc").data_fingerprint)
    assert pay is not None
    assert pay.as_of == T1
    assert pay.created_mark is not None
    assert pay_nc is not None
    assert pay_nc.as_of == T1 - HOUR
    store.materialize_incremental(end=T1 + DAY)
    later = partials.current("pay", store.registry.view("pay").data_fingerprint)
    assert later is not None
    assert later.as_of == T1 + DAY
    assert not Path(pay.path).exists(), "the replaced partials file is removed"
    assert len(list((store.root / ".featurestore" / "aggregates" / "pay").glob("*.parquet"))) == 1


def test_a_failed_run_leaves_the_watermark_and_partials_and_a_rerun_is_exact(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.materialize(end=T1, views=["pay"])
    version = store.registry.view("pay").data_fingerprint
    before = PartialStore(store.root).current("pay", version)
    append(store, "1", events(5, 100, T1, T1 + HOUR), "pay")

    def broken(*args: object, **kwargs: object) -> Iterator[int]:
        raise RuntimeError("the online store went away")
        yield 0

    with monkeypatch.context() as patch:
        patch.setattr(store.online_store, "write_batches", broken)
        with pytest.raises(RuntimeError, match="went away"):
            store.materialize_incremental(end=T1 + HOUR, views=["pay"])
    mark = FilesBackend(store.root).watermark("pay", version)
    assert mark is not None
    assert mark.event_time == T1
    assert PartialStore(store.root).current("pay", version) == before
    assert len(list((store.root / ".featurestore" / "aggregates" / "pay").glob("*.parquet"))) == 1
    store.materialize_incremental(end=T1 + HOUR, views=["pay"])
    assert_online_equals_offline(store, "pay", T1 + HOUR)


def test_an_entity_never_written_online_reads_count_zero_like_offline(store: FeatureStore) -> None:
    store.materialize(end=T1, views=["pay"])
    response = store.get_online_features(
        ["pay:amount_count_1h", "pay:merchant_count_distinct_1d", "pay:amount_sum_1h"], {"customer_id": [999]}
    )
    assert response.to_dict() == {
        "customer_id": [999],
        "amount_count_1h": [0],
        "merchant_count_distinct_1d": [0],
        "amount_sum_1h": [None],
    }
    assert response.statuses()["amount_count_1h"] == ["NOT_FOUND"]
    assert response.to_arrow().column("amount_count_1h").to_pylist() == [0]


def test_an_incremental_run_rewrites_only_entities_whose_windows_changed(store: FeatureStore) -> None:
    store.materialize(end=T1, views=["pay"])
    t2 = T1 + 2 * HOUR  # nothing new: only events leaving the 1h or the 1d window change values
    table = pq.read_table(store.root / "data" / "pay" / "0.parquet").to_pylist()
    left = {r["customer_id"] for r in table for w in (HOUR, DAY) if T1 - w < r["ts"] <= t2 - w}
    run = store.materialize_incremental(end=t2, views=["pay"]).runs[0]
    assert 0 < run.entities_written == len(left) < len({r["customer_id"] for r in table})
    assert_online_equals_offline(store, "pay", t2)


PAIR_DEFS = """
from featurestore import Aggregation
customer = Entity(name="customer", join_keys=["customer_id"])
merchant = Entity(name="merchant", join_keys=["merchant"])
pair = FeatureView(
    name="pair", entities=[customer, merchant],
    source=FileSource(name="pair_src", path="data/pay", timestamp_field="ts",
                      created_timestamp_field="created"),
    aggregations=[Aggregation("amount", "sum", timedelta(days=1)), Aggregation("amount", "count", None),
                  Aggregation("amount", "last", None)],
)
"""


def test_composite_string_keys_and_a_start_bound(tmp_path: Path) -> None:
    (tmp_path / "data" / "pay").mkdir(parents=True)
    table = events(6, 300, T1 - 3 * DAY, T1)
    pq.write_table(table, tmp_path / "data" / "pay" / "0.parquet")
    with make_repo(tmp_path, PAIR_DEFS) as store:
        start = T1 - DAY
        run = store.materialize(start=start, end=T1).runs[0]
        recent = {(r["customer_id"], r["merchant"]) for r in table.to_pylist() if r["ts"] >= start}
        assert run.entities_written == len(recent)  # only entities with an event from `start` on
        pairs = sorted({(r["customer_id"], r["merchant"]) for r in table.to_pylist()})
        keys = {"customer_id": [c for c, _ in pairs], "merchant": [m for _, m in pairs]}
        rows = pa.table({**keys, "event_timestamp": pa.array([T1] * len(pairs), pa.timestamp("us"))})
        offline = store.get_training_set(rows, ["pair:*"]).to_pylist_rows()
        online = store.get_online_features(["pair:*"], keys, now=T1).to_dict()
        for i, pair in enumerate(pairs):
            if pair not in recent:
                continue
            for name in ("amount_sum_1d", "amount_count_lifetime", "amount_last_lifetime"):
                assert same(online[name][i], offline[i][name]), (pair, name)
