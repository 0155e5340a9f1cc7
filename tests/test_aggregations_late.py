"""Late events and incremental materialization of aggregation views, on hand-checked data.

A late event has its event time at or before the view's watermark and lands after the run that set it:
with a created column, its created time is after that run (after the greatest created time the run saw,
or after the run's end, whichever is earlier); without one, it is found only within ``[materialize]
lookback`` before the watermark. ``materialize_incremental`` must rewrite every entity whose aggregates
such an event changes, in every window and in the lifetime aggregates kept as partial states.

T1 = 2024-06-01 12:00, T2 = T1 + 2h. Events present at the run at T1 (``FIRST``):

    AA  T1 - 30h  delay 12     (outside the 1d window at T1 and T2; lifetime only)
    AA  T1 - 5h   delay -7
    UA  T1 - 3h   delay 4      created T1 + 3h: re-delivered upstream, already in the file at the run
    DL  T1 - 50h  delay 2

Late events, landing after the run at T1 (created T1 + 1h):

    AA  T1 - 2h   delay 333    inside the 1d window: max, min, sum, count, last and lifetime change
    DL  T1 - 48h  delay -3     only DL's lifetime aggregates change
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore import FeatureStore
from tests.pit_repo import make_repo, table_of

H = timedelta(hours=1)
T1 = datetime(2024, 6, 1, 12)
T2 = T1 + 2 * H
DEFS = """
from featurestore import Aggregation
carrier = Entity(name="carrier", join_keys=["carrier"])
D = timedelta(days=1)
flights = FeatureView(
    name="flights", entities=[carrier],
    source=FileSource(name="flights_src", path="data/f", timestamp_field="ts", {created}),
    aggregations=[
        Aggregation("delay", "max", D), Aggregation("delay", "min", D), Aggregation("delay", "sum", D),
        Aggregation("delay", "count", D), Aggregation("delay", "last", D),
        Aggregation("delay", "count", None), Aggregation("delay", "max", None),
        Aggregation("delay", "sum", None),
    ],
)
"""
WITH_CREATED = DEFS.replace("{created}", 'created_timestamp_field="created"')
WITHOUT_CREATED = DEFS.replace("{created}", "")
NAMES = ("delay_max_1d", "delay_min_1d", "delay_sum_1d", "delay_count_1d", "delay_last_1d",
         "delay_count_lifetime", "delay_max_lifetime", "delay_sum_lifetime")  # fmt: skip
HEADER = ("carrier", "ts", "created", "delay")
TYPES = {"carrier": pa.string(), "ts": pa.timestamp("us"), "created": pa.timestamp("us"), "delay": pa.int64()}
KEYS = ["AA", "UA", "DL"]

FIRST = [
    ("AA", T1 - 30 * H, T1 - 30 * H, 12),
    ("AA", T1 - 5 * H, T1 - 5 * H, -7),
    ("UA", T1 - 3 * H, T1 + 3 * H, 4),
    ("DL", T1 - 50 * H, T1 - 50 * H, 2),
]
LATE = [("AA", T1 - 2 * H, T1 + H, 333), ("DL", T1 - 48 * H, T1 + H, -3)]

AT_T1 = {  # max, min, sum, count, last over 1d; count, max, sum over the lifetime
    "AA": (-7, -7, -7, 1, -7, 2, 12, 5),
    "UA": (4, 4, 4, 1, 4, 1, 4, 4),
    "DL": (None, None, None, 0, None, 1, 2, 2),
}
AT_T2 = {
    "AA": (333, -7, 326, 2, 333, 3, 333, 338),  # the 1d window (T1 - 22h, T2] holds -7 and 333
    "UA": (4, 4, 4, 1, 4, 1, 4, 4),
    "DL": (None, None, None, 0, None, 2, 2, -1),
}


def write(root: Path, name: str, rows: list[tuple[Any, ...]]) -> None:
    pq.write_table(table_of(HEADER, *rows, types=TYPES), root / "data" / "f" / f"{name}.parquet")


def online(store: FeatureStore, at: datetime) -> dict[str, tuple[Any, ...]]:
    got = store.get_online_features([f"flights:{n}" for n in NAMES], {"carrier": KEYS}, now=at).to_dict()
    return {key: tuple(got[n][i] for n in NAMES) for i, key in enumerate(KEYS)}


def offline(store: FeatureStore, at: datetime) -> dict[str, tuple[Any, ...]]:
    rows = pa.table({"carrier": KEYS, "event_timestamp": pa.array([at] * len(KEYS), pa.timestamp("us"))})
    got = store.get_training_set(rows, [f"flights:{n}" for n in NAMES]).to_pylist_rows()
    return {row["carrier"]: tuple(row[n] for n in NAMES) for row in got}


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[tuple[Path, list[FeatureStore]]]:
    (tmp_path / "data" / "f").mkdir(parents=True)
    stores: list[FeatureStore] = []
    yield tmp_path, stores
    for store in stores:
        store.close()


def build(repo: tuple[Path, list[FeatureStore]], defs: str, first: list[tuple[Any, ...]]) -> FeatureStore:
    """The repo with the events of ``first`` in ``data/f/0.parquet``, applied."""
    root, stores = repo
    write(root, "0", first)
    store = make_repo(root, defs)
    stores.append(store)
    return store


def check_incremental_then_full(store: FeatureStore, expected: dict[str, tuple[Any, ...]]) -> None:
    """At T2 after ``materialize_incremental``: online == the hand-checked values == the training set;
    and a full run at T2 writes the same."""
    store.materialize_incremental(end=T2)
    assert online(store, T2) == expected
    assert offline(store, T2) == expected
    store.materialize(end=T2)
    assert online(store, T2) == expected


@pytest.mark.parametrize(
    "first",
    [
        pytest.param(FIRST, id="a-row-created-after-the-run-end"),
        pytest.param([(c, ts, None, d) for c, ts, _, d in FIRST], id="no-created-time-seen-yet"),
    ],
)
def test_late_events_reach_every_window_and_the_lifetime(
    repo: tuple[Path, list[FeatureStore]], first: list[tuple[Any, ...]]
) -> None:
    store = build(repo, WITH_CREATED, first)
    store.materialize(end=T1)
    assert online(store, T1) == AT_T1
    write(store.root, "late", LATE)
    check_incremental_then_full(store, AT_T2)


def test_late_events_land_in_partial_states_taken_before_them(repo: tuple[Path, list[FeatureStore]]) -> None:
    """A second incremental run starts from the partial states of the first: the late rows are in them
    once (not lost, not counted twice)."""
    store = build(repo, WITH_CREATED, FIRST)
    store.materialize(end=T1)
    write(store.root, "late", LATE)
    store.materialize_incremental(end=T2)
    store.materialize_incremental(end=T2 + H)
    expected = {**AT_T2, "DL": AT_T2["DL"]}
    assert online(store, T2 + H) == expected == offline(store, T2 + H)


def test_without_a_created_column_late_events_in_the_lookback_are_found(
    repo: tuple[Path, list[FeatureStore]],
) -> None:
    store = build(repo, WITHOUT_CREATED, FIRST)
    store.materialize(end=T1)
    assert online(store, T1) == AT_T1
    write(store.root, "late", [("AA", T1 - H / 2, None, 333)])  # within the 1h look-back before T1
    expected = {**AT_T2, "DL": AT_T1["DL"]}  # the 1d window (T1 - 22h, T2] holds -7 and 333
    check_incremental_then_full(store, expected)


# -- a property test: several incremental runs, each after a batch of events that landed since -------

STEP = 2 * H
batches = st.lists(
    st.lists(
        st.tuples(
            st.sampled_from(KEYS),
            st.integers(-72 * 60, 120),  # event time in minutes from the previous run's end
            st.integers(1, 6 * 60),  # created this many minutes after the previous run's end
            st.one_of(st.none(), st.integers(-50, 500)),
        ),
        max_size=8,
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=8, deadline=None)
@given(first=st.lists(st.tuples(st.sampled_from(KEYS), st.integers(-72 * 60, 0), st.integers(-60, 300),
                                st.integers(-50, 500)), min_size=1, max_size=8),
       later=batches)  # fmt: skip
def test_every_incremental_run_matches_the_training_set(
    tmp_path_factory: pytest.TempPathFactory,
    first: list[tuple[str, int, int, int]],
    later: list[list[tuple[str, int, int, int | None]]],
) -> None:
    """The first file may hold rows stamped after the first run's end; each later batch lands after the
    previous run (created after its end), with event times up to three days before it."""
    minute = timedelta(minutes=1)
    root = tmp_path_factory.mktemp("late_runs")
    (root / "data" / "f").mkdir(parents=True)
    write(root, "0", [(k, T1 + ts * minute, T1 + ts * minute + c * minute, d) for k, ts, c, d in first])
    with make_repo(root, WITH_CREATED) as store:
        store.materialize(end=T1)
        end = T1
        for i, batch in enumerate(later, 1):
            rows = [(k, end + ts * minute, end + c * minute, d) for k, ts, c, d in batch]
            write(root, str(i), rows)
            end += STEP
            store.materialize_incremental(end=end)
            assert online(store, end) == offline(store, end), f"after run {i} at {end}"
