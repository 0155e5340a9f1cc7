"""``FeatureView(..., exclude_current_time=True)``: rows and events stamped exactly at ``t`` are left out.

Hand-checked tables. Driver 1's plain rows: ``v`` = 1 at 10:00, 2 at 11:00 (ttl 1h). Customer 1's events:
amount 1 at 09:00, 2 at 10:00, 4 at 10:30, 8 at 11:00. ``plain`` / ``agg`` count the row at ``t``;
``plain_x`` / ``agg_x`` are the same views with the flag, which do not.

    t       plain  plain_x | sum_1h  sum_1h_x  count_1h  count_1h_x  last_1h  last_1h_x  sum_life  sum_life_x
    10:00   1      null    | 2       null      1         0           2        null       3         1
    10:30   1      1       | 6       2         2         1           4        2          7         3
    11:00   2      1       | 12      4         2         1           8        4          15        7
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore import Aggregation, Entity, Feature, FeatureStore, FeatureView, FileSource
from featurestore.errors import DefinitionError
from tests.pit_repo import freeze_online_clock, make_repo, naive, rows, table_of

AGGREGATIONS = """[
        Aggregation("amount", "sum", H, name="sum_1h"), Aggregation("amount", "count", H, name="count_1h"),
        Aggregation("amount", "last", H, name="last_1h"), Aggregation("amount", "max", H, name="max_1h"),
        Aggregation("amount", "sum", None, name="sum_life"),
        Aggregation("amount", "count", None, name="count_life"),
    ]"""
DEFS = f"""
from featurestore import Aggregation
H = timedelta(hours=1)
driver = Entity(name="driver", join_keys=["driver_id"])
customer = Entity(name="customer", join_keys=["customer_id"])
stats = FileSource(name="stats", path="data/stats.parquet", timestamp_field="ts")
pay = FileSource(name="pay", path="data/pay", timestamp_field="ts", created_timestamp_field="created")
plain = FeatureView(name="plain", entities=[driver], source=stats, ttl=H, features=[Feature("v", "int64")])
plain_x = FeatureView(name="plain_x", entities=[driver], source=stats, ttl=H,
                      features=[Feature("v", "int64")], exclude_current_time=True)
agg = FeatureView(name="agg", entities=[customer], source=pay, aggregations={AGGREGATIONS})
agg_x = FeatureView(name="agg_x", entities=[customer], source=pay, aggregations={AGGREGATIONS},
                    exclude_current_time=True)
"""
T10, T1030, T11 = naive(2024, 5, 1, 10), naive(2024, 5, 1, 10, 30), naive(2024, 5, 1, 11)
PAY = ("customer_id", "ts", "created", "amount")
PAY_TYPES = {"ts": pa.timestamp("us"), "created": pa.timestamp("us"), "amount": pa.int64()}


def seed(root: Path) -> dict[str, pa.Table]:
    """Write the events folder under ``root``; return the plain view's data file for ``make_repo``."""
    pay = table_of(
        PAY,
        *[(1, t, t, a) for t, a in [(naive(2024, 5, 1, 9), 1), (T10, 2), (T1030, 4), (T11, 8)]],
        types=PAY_TYPES,
    )
    (root / "data" / "pay").mkdir(parents=True)
    pq.write_table(pay, root / "data" / "pay" / "0.parquet")
    return {"data/stats.parquet": table_of(("driver_id", "ts", "v"), (1, T10, 1), (1, T11, 2))}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    with make_repo(tmp_path, DEFS, seed(tmp_path)) as store:
        yield store


def entity_rows(key: str, *times: Any) -> pa.Table:
    return table_of(
        (key, "event_timestamp"), *[(1, t) for t in times], types={"event_timestamp": pa.timestamp("us")}
    )


def test_a_plain_view_leaves_out_the_row_at_t(store: FeatureStore) -> None:
    result = store.get_training_set(entity_rows("driver_id", T10, T1030, T11), ["plain:v", "plain_x:v"],
                                    full_feature_names=True).to_arrow()  # fmt: skip
    # At 11:00 plain_x takes the 10:00 row: ts >= t - ttl stays inclusive.
    assert rows(result, "plain__v", "plain_x__v") == [(1, None), (1, 1), (2, 1)]


def test_a_plain_view_as_known_at_leaves_out_the_row_at_t(store: FeatureStore) -> None:
    from featurestore.errors import AsKnownAtIgnoredWarning

    with pytest.warns(AsKnownAtIgnoredWarning, match="plain_x"):  # the source has no created time
        result = store.get_training_set(entity_rows("driver_id", T10, T11), ["plain_x:v"], as_known_at=True)
    assert rows(result.to_arrow(), "v") == [(None,), (1,)]


AGG_EXPECTED = {
    "sum_1h": [(2, None), (6, 2), (12, 4)],
    "count_1h": [(1, 0), (2, 1), (2, 1)],
    "last_1h": [(2, None), (4, 2), (8, 4)],
    "max_1h": [(2, None), (4, 2), (8, 4)],
    "sum_life": [(3, 1), (7, 3), (15, 7)],
    "count_life": [(2, 1), (3, 2), (4, 3)],
}


@pytest.mark.parametrize("as_known_at", [False, True])
def test_windows_and_lifetime_leave_out_the_events_at_t(store: FeatureStore, as_known_at: bool) -> None:
    refs = [f"{v}:{n}" for n in AGG_EXPECTED for v in ("agg", "agg_x")]
    result = store.get_training_set(
        entity_rows("customer_id", T10, T1030, T11), refs, full_feature_names=True, as_known_at=as_known_at
    ).to_arrow()
    for name, expected in AGG_EXPECTED.items():
        assert rows(result, f"agg__{name}", f"agg_x__{name}") == expected, name


def test_an_event_at_t_is_found_by_a_later_entity_row(store: FeatureStore) -> None:
    later = T11 + timedelta(microseconds=1)
    result = store.get_training_set(entity_rows("customer_id", later), ["agg_x:sum_1h", "agg_x:sum_life"])
    assert rows(result.to_arrow(), "sum_1h", "sum_life") == [(12, 15)]


def assert_online_equals_offline(store: FeatureStore, view: str, key: str, at: Any) -> list[dict[str, Any]]:
    refs = [f"{view}:*"]
    offline = store.get_training_set(entity_rows(key, at), refs).to_pylist_rows()
    online = store.get_online_features(refs, {key: [1]}, now=at).to_dict()
    features = store.registry.view(view).view.feature_names
    assert {f: online[f][0] for f in features} == {f: offline[0][f] for f in features}
    checks = {c.view: c for c in store.verify(sample=None, views=[view])}
    assert checks[view].failures == 0, checks[view].examples
    return offline


def test_online_equals_offline_after_materializing_to_the_time_of_an_event(
    store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    freeze_online_clock(monkeypatch, T11)  # the ttl's expiry as of the runs' ends, not today
    store.materialize(end=T11, views=["plain_x", "agg_x"])
    assert assert_online_equals_offline(store, "plain_x", "driver_id", T11)[0]["v"] == 1
    offline = assert_online_equals_offline(store, "agg_x", "customer_id", T11)
    assert (offline[0]["sum_1h"], offline[0]["sum_life"], offline[0]["last_1h"]) == (4, 7, 4)

    # An incremental run to a later time takes in the events at the previous end (left out then), and
    # leaves out a new one at its own end.
    t2 = T11 + timedelta(hours=2)
    t15 = T11 + timedelta(minutes=90)
    new = table_of(PAY, (1, t15, t15, 16), (1, t2, t2, 32), types=PAY_TYPES)
    pq.write_table(new, store.root / "data" / "pay" / "1.parquet")
    stats = table_of(("driver_id", "ts", "v"), (1, T10, 1), (1, T11, 2), (1, t2, 3))
    pq.write_table(stats, store.root / "data" / "stats.parquet")
    freeze_online_clock(monkeypatch, t2)
    store.materialize_incremental(end=t2, views=["plain_x", "agg_x"])
    offline = assert_online_equals_offline(store, "agg_x", "customer_id", t2)
    assert (offline[0]["sum_1h"], offline[0]["sum_life"], offline[0]["count_life"]) == (16, 31, 5)
    assert assert_online_equals_offline(store, "plain_x", "driver_id", t2)[0]["v"] is None  # 11:00 expired
    assert store.get_online_features(["plain_x:v"], {"driver_id": [1]}, now=t2).to_dict()["v"] == [None]


# -- the definition ----------------------------------------------------------------------------------

DRIVER = Entity(name="driver", join_keys=["driver_id"])


def _plain(**extra: Any) -> FeatureView:
    source = FileSource(name="s", path="data/s.parquet", timestamp_field="ts")
    return FeatureView(name="plain", entities=[DRIVER], source=source, ttl=timedelta(hours=1),
                       features=[Feature("v", "int64")], **extra)  # fmt: skip


def _agg(**extra: Any) -> FeatureView:
    source = FileSource(name="e", path="data/e.parquet", timestamp_field="ts")
    return FeatureView(name="agg", entities=[DRIVER], source=source,
                       aggregations=[Aggregation("amount", "sum", timedelta(hours=1))], **extra)  # fmt: skip


def test_views_without_the_flag_keep_their_fingerprints() -> None:
    # The fingerprints these views had before the option existed: their online versions do not move.
    assert (_plain().data_fingerprint(), _plain().metadata_fingerprint()) == (
        "acf90c618e5c6bff",
        "ea1eb05cb81ad8b5",
    )
    assert (_agg().data_fingerprint(), _agg().metadata_fingerprint()) == (
        "961e3de016c50579",
        "f91771161d8d7bea",
    )
    assert _plain(exclude_current_time=False).data_fingerprint() == "acf90c618e5c6bff"


def test_the_flag_changes_the_data_fingerprint_only() -> None:
    for make in (_plain, _agg):
        on, off = make(exclude_current_time=True), make()
        assert on.data_fingerprint() != off.data_fingerprint()
        assert on.metadata_fingerprint() == off.metadata_fingerprint()


def test_a_window_of_one_microsecond_is_refused_with_the_flag() -> None:
    source = FileSource(name="e", path="data/e.parquet", timestamp_field="ts")
    with pytest.raises(DefinitionError, match="holds no event when exclude_current_time=True"):
        FeatureView(name="agg", entities=[DRIVER], source=source, exclude_current_time=True,
                    aggregations=[Aggregation("amount", "sum", timedelta(microseconds=1))])  # fmt: skip


def test_explain_says_the_events_at_t_are_left_out(store: FeatureStore) -> None:
    rows_ = entity_rows("customer_id", T11)
    explained = store.get_training_set(
        rows_, ["agg_x:sum_1h", "agg:sum_1h"], full_feature_names=True
    ).explain()
    assert "WindowAggregate view=agg_x keys=['customer_id'] events in (t - window, t)," in explained
    assert "WindowAggregate view=agg keys=['customer_id'] events in (t - window, t]," in explained
    plain = store.get_training_set(
        entity_rows("driver_id", T11), ["plain_x:v", "plain:v"], full_feature_names=True
    )
    plain = plain.explain()
    assert "PointInTimeJoin view=plain_x keys=['driver_id'] latest row with ts < t, ttl 1h" in plain
    assert "PointInTimeJoin view=plain keys=['driver_id'] latest row with ts <= t, ttl 1h" in plain


def test_nanosecond_events_just_before_t_count_whatever_their_created_time(tmp_path: Path) -> None:
    # A nanosecond source takes the range join with the flag: only as_known_at looks at created times.
    import pandas as pd

    ns = pd.Timedelta(1, "ns")
    t = pd.Timestamp(T11)
    types = {**PAY_TYPES, "ts": pa.timestamp("ns"), "created": pa.timestamp("ns")}
    events = table_of(PAY, (1, t - ns, t + ns, 1), (1, t, t, 2), (1, t + ns, t, 4), types=types)
    (tmp_path / "data" / "pay").mkdir(parents=True)
    pq.write_table(events, tmp_path / "data" / "pay" / "0.parquet")
    stats = {"data/stats.parquet": table_of(("driver_id", "ts", "v"), (1, T10, 1))}
    with make_repo(tmp_path, DEFS, stats) as store:
        refs = ["agg:sum_1h", "agg_x:sum_1h", "agg:count_life", "agg_x:count_life"]
        for as_known_at, expected in ((False, (3, 1, 2, 1)), (True, (2, None, 1, 0))):
            result = store.get_training_set(
                entity_rows("customer_id", T11), refs, full_feature_names=True, as_known_at=as_known_at
            ).to_arrow()
            got = rows(result, "agg__sum_1h", "agg_x__sum_1h", "agg__count_life", "agg_x__count_life")
            assert got == [expected], as_known_at
