"""Windowed aggregations against a brute-force pure-Python reference, on random events full of ties.

Event and entity times come from a handful of points one minute apart (plus points 1µs off them), so
events tie on time, entity rows sit exactly on events and exactly on ``t - window``. Windows are 1 and
3 minutes, 2 minutes + 1µs, and the lifetime. Keys, times, created times and values are sometimes null.
Both DuckDB paths are checked: the sweep (the default) and the range join (``as_known_at=True``); and
the materialization query (one GROUP BY at a time ``T``) against the same reference. ``ex`` is ``ev`` with
``exclude_current_time=True`` (windows ``(t - w, t)``): a drawn flag picks the view and the reference's
rule, so entity rows and materialization times sitting on events cover it.

The same again with event and created times in nanoseconds (``POINTS_NS``: the points above and
points 1 ns on either side of them and of the windows' edges; entity rows stay in microseconds): the
reference compares them exactly (pandas ``Timestamp``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore import FeatureStore
from tests.pit_repo import make_repo, rows, table_of

B = datetime(2024, 3, 1, 8, 0)
UNIT = timedelta(minutes=1)
US = timedelta(microseconds=1)
POINTS = [B + k * UNIT for k in range(7)] + [B + 3 * UNIT - US, B + 3 * UNIT + US, B + 4 * UNIT + US]
WINDOWS: list[timedelta | None] = [UNIT, 3 * UNIT, 2 * UNIT + US, None]
FUNCTIONS = {
    "amount": ("count", "sum", "mean", "min", "max", "stddev", "last", "count_distinct"),
    "qty": ("sum", "min", "last"),
    "merchant": ("count", "count_distinct", "max", "last"),
    "flag": ("sum", "mean", "last"),
}
AGGREGATES = [
    (c, f, w, f"{c}_{f}_{i}") for i, w in enumerate(WINDOWS) for c, fs in FUNCTIONS.items() for f in fs
]


def _window_code(window: timedelta | None) -> str:
    return "None" if window is None else f"timedelta(microseconds={window // US})"


_AGGREGATIONS = "".join(
    f"    Aggregation({c!r}, {f!r}, {_window_code(w)}, name={n!r}),\n" for c, f, w, n in AGGREGATES
)
DEFS = (
    "from featurestore import Aggregation\n"
    "customer = Entity(name='customer', join_keys=['customer_id'])\n"
    "src = FileSource(name='src', path='data/ev.parquet', timestamp_field='ts',\n"
    "                 created_timestamp_field='created')\n"
    f"ev = FeatureView(name='ev', entities=[customer], source=src, aggregations=[\n{_AGGREGATIONS}])\n"
    f"ex = FeatureView(name='ex', entities=[customer], source=src, exclude_current_time=True,\n"
    f"                 aggregations=[\n{_AGGREGATIONS}])\n"
)


def view_name(exclude_current_time: bool) -> str:
    """The view of the property tests with (``ex``) or without (``ev``) ``exclude_current_time``."""
    return "ex" if exclude_current_time else "ev"


HEADER = ("customer_id", "ts", "created", "amount", "qty", "merchant", "flag")
TYPES = {"customer_id": pa.int64(), "ts": pa.timestamp("us"), "created": pa.timestamp("us"),
         "amount": pa.float64(), "qty": pa.int64(), "merchant": pa.string(), "flag": pa.bool_(),
         "event_timestamp": pa.timestamp("us")}  # fmt: skip
TYPES_NS = {**TYPES, "ts": pa.timestamp("ns"), "created": pa.timestamp("ns")}


def maybe(values: Sequence[Any], nulls: int = 1) -> st.SearchStrategy[Any]:
    """One of ``values`` or None; shrinks to the first value."""
    return st.sampled_from([*values, *[None] * nulls])


def events_at(points: Sequence[Any], created: Sequence[Any]) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    return st.lists(
        st.tuples(
            maybe([1, 2, 1, 2, 3], 1),
            maybe(points, 1),
            maybe(created, 2),
            maybe([0.5, 1.25, -2.0, 3.0, 100.0, 0.5]),
            maybe([1, 7, -3, 2]),
            maybe(["a", "b", "", "c"]),
            maybe([True, False]),
        ),
        max_size=30,
    )


events = events_at(POINTS, [B, B + 5 * UNIT, B + 2 * UNIT])
NS = pd.Timedelta(1, "ns")
# Entity rows sit on POINTS, windows end at POINTS - w: events 1 ns on either side of those instants.
EDGES = sorted({p - w for p in POINTS for w in WINDOWS if w is not None} | set(POINTS))
POINTS_NS = [pd.Timestamp(p) + k * NS for p in EDGES for k in (-1, 0, 1)]
CREATED_NS = [pd.Timestamp(c) + k * NS for c in (B, B + 2 * UNIT, B + 3 * UNIT) for k in (-1, 0, 1)]
events_ns = events_at(POINTS_NS, CREATED_NS)
entity = st.lists(st.tuples(maybe([1, 2, 1, 2, 3, 4], 1), maybe(POINTS, 1)), min_size=1, max_size=12)
NAMES = [n for *_, n in AGGREGATES]
# Mostly every aggregate at once (each example then checks every function and window), sometimes a few.
requests = st.one_of(st.just(NAMES), st.lists(st.sampled_from(NAMES), min_size=1, max_size=12, unique=True))


# -- the reference ---------------------------------------------------------------------------------


def _low_null(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


def reference_value(
    data: list[dict[str, Any]],
    key: int | None,
    t: datetime | None,
    aggregate: tuple[Any, ...],
    as_known_at: bool,
    exclude_current_time: bool = False,
) -> Any:
    column, function, window, _ = aggregate
    in_window = []
    if key is not None and t is not None:
        for r in data:
            if r["customer_id"] != key or r["ts"] is None or r["ts"] > t:
                continue
            if exclude_current_time and r["ts"] == t:  # the window is (t - w, t)
                continue
            if window is not None and not r["ts"] > t - window:
                continue
            # As known at t: created <= t; a null created time is never known (the source has a
            # created column; without one every event would be known from its event time).
            if as_known_at and (r["created"] is None or r["created"] > t):
                continue
            in_window.append(r)
    present = [r for r in in_window if r[column] is not None]
    values = [int(r[column]) if isinstance(r[column], bool) and function in ("sum", "mean") else r[column]
              for r in present]  # fmt: skip
    if function == "count":
        return len(values)
    if function == "count_distinct":
        return len(set(values))
    if not values:
        return None
    if function == "sum":
        return sum(values)
    if function == "mean":
        return sum(values) / len(values)
    if function == "min":
        return min(values)
    if function == "max":
        return max(values)
    if function == "stddev":
        return statistics.stdev(values) if len(values) > 1 else None
    latest = max(present, key=lambda r: (r["ts"], _low_null(r["created"]), r[column]))
    return latest[column]


def same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, float) and isinstance(actual, float):
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)
    return bool(actual == expected) and type(actual) is type(expected)


# -- the store under test --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureStore]:
    root = tmp_path_factory.mktemp("agg_property")
    with make_repo(root, DEFS, {"data/ev.parquet": table_of(HEADER, types=TYPES)}) as store:
        yield store


@pytest.fixture(scope="module")
def store_ns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureStore]:
    root = tmp_path_factory.mktemp("agg_property_ns")
    with make_repo(root, DEFS, {"data/ev.parquet": table_of(HEADER, types=TYPES_NS)}) as store:
        yield store


def write(store: FeatureStore, body: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    types = TYPES_NS if store.registry.view("ev").source_schema["ts"] == "timestamp[ns]" else TYPES
    pq.write_table(table_of(HEADER, *body, types=types), store.root / "data" / "ev.parquet")
    return [dict(zip(HEADER, row, strict=True)) for row in body]


def mismatch(data: list[dict[str, Any]], key: Any, t: Any, name: str, actual: Any, expected: Any) -> str:
    lines = [
        f"{name} at (customer_id={key}, t={t}): got {actual!r}, expected {expected!r}; events of the key:"
    ]
    return "\n".join(lines + [f"  {r}" for r in data if r["customer_id"] == key])


def check_training_set(
    store: FeatureStore,
    body: list[tuple[Any, ...]],
    entity_rows: list[tuple[Any, Any]],
    wanted: list[str],
    as_known_at: bool,
    exclude_current_time: bool = False,
) -> None:
    data = write(store, body)
    table = table_of(("customer_id", "event_timestamp"), *entity_rows, types=TYPES)
    view = view_name(exclude_current_time)
    result = store.get_training_set(
        table, [f"{view}:{n}" for n in wanted], as_known_at=as_known_at
    ).to_arrow()
    by_name = {a[3]: a for a in AGGREGATES}
    for i, (key, t) in enumerate(entity_rows):
        for name, actual in zip(wanted, rows(result, *wanted)[i], strict=True):
            expected = reference_value(data, key, t, by_name[name], as_known_at, exclude_current_time)
            assert same(actual, expected), mismatch(data, key, t, name, actual, expected)


def check_materialization(
    store: FeatureStore, body: list[tuple[Any, ...]], at: datetime, exclude_current_time: bool = False
) -> None:
    from featurestore.plan.window import plan_aggregates_at
    from featurestore.sql import renderer_for

    data = write(store, body)
    plan = plan_aggregates_at(store.registry.view(view_name(exclude_current_time)), store.root, end=at)
    result = store.engine.to_arrow(renderer_for(store.engine.capabilities).render_aggregates_at(plan))
    keys = sorted({r["customer_id"] for r in data if r["customer_id"] is not None and r["ts"] is not None
                   and (r["ts"] < at if exclude_current_time else r["ts"] <= at)})  # fmt: skip
    assert sorted(result.column("customer_id").to_pylist()) == keys
    for row in result.to_pylist():
        for aggregate in AGGREGATES:
            expected = reference_value(data, row["customer_id"], at, aggregate, False, exclude_current_time)
            actual = row[aggregate[3]]
            assert same(actual, expected), mismatch(
                data, row["customer_id"], at, aggregate[3], actual, expected
            )


SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}


@settings(max_examples=80, **SETTINGS)
@given(body=events, entity_rows=entity, wanted=requests, as_known_at=st.booleans(), exclude=st.booleans())
def test_training_sets_match_the_reference(
    store: FeatureStore,
    body: list[tuple[Any, ...]],
    entity_rows: list[tuple[Any, Any]],
    wanted: list[str],
    as_known_at: bool,
    exclude: bool,
) -> None:
    check_training_set(store, body, entity_rows, wanted, as_known_at, exclude)


@settings(max_examples=40, **SETTINGS)
@given(body=events, at=st.sampled_from(POINTS), exclude=st.booleans())
def test_the_materialization_query_matches_the_reference(
    store: FeatureStore, body: list[tuple[Any, ...]], at: datetime, exclude: bool
) -> None:
    check_materialization(store, body, at, exclude)


@settings(max_examples=40, **SETTINGS)
@given(body=events_ns, entity_rows=entity, wanted=requests, as_known_at=st.booleans(), exclude=st.booleans())
def test_nanosecond_training_sets_match_the_reference(
    store_ns: FeatureStore,
    body: list[tuple[Any, ...]],
    entity_rows: list[tuple[Any, Any]],
    wanted: list[str],
    as_known_at: bool,
    exclude: bool,
) -> None:
    check_training_set(store_ns, body, entity_rows, wanted, as_known_at, exclude)


@settings(max_examples=20, **SETTINGS)
@given(body=events_ns, at=st.sampled_from(POINTS), exclude=st.booleans())
def test_the_nanosecond_materialization_query_matches_the_reference(
    store_ns: FeatureStore, body: list[tuple[Any, ...]], at: datetime, exclude: bool
) -> None:
    check_materialization(store_ns, body, at, exclude)
