"""Every accepted event/created timestamp type, end to end: apply, training sets (both modes),
materialize + online reads, verify; and entity rows' timestamps of every type.

One hand-checked table (``ROWS``) is written in each source type. ``T`` = 2024-01-01 12:00 UTC
(2024-01-02 00:00 for DATE), ``STEP`` = one unit of the column (1 s, 1 ms, 1 us, 1 ns; 1 day for
DATE); the view's ttl is 1 h (2 days for DATE) and ``MID`` is a time inside it (T - 30 min; T - 1 day
for DATE).

====  ========================================  ===================================================
key   feature rows (ts, created, value)         why
====  ========================================  ===================================================
1     (T - ttl, =, 1) (T, =, 2) (T + STEP, =, 3) a row exactly at t counts, one STEP later does not
2     (T - ttl - STEP, =, 4)                     one STEP older than the ttl allows
3     (T - ttl, =, 5)                            the ttl bound is inclusive
4     (MID, MID, 6) (MID, MID + STEP, 7)         a tie on ts goes to the greatest created
5     (MID - STEP, =, 8) (MID, =, 9)             the greatest ts wins (1 ns apart for nanoseconds)
6     (MID, T + STEP, 10) (MID - STEP, =, 11)    as known at t, the row created after t is unknown
====  ========================================  ===================================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from featurestore.errors import SchemaMismatchError
from tests.pit_repo import freeze_online_clock, make_repo, naive, rows, utc

T = naive(2024, 1, 1, 12)
T_NS = 1_704_110_400_000_000_000
US = timedelta(microseconds=1)
NS_PER = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1, "day": 86_400 * 10**9}
HOUR_NS = 3_600 * 10**9


@dataclass(frozen=True)
class Case:
    """One source type: how to write ``ROWS`` and the DuckDB type apply must record."""

    id: str
    unit: str  # s, ms, us, ns or day: the step of the rows
    arrow_type: str  # the source column's type as the registry stores it
    write: Callable[[Path, list[tuple[int, int, int, int]]], str]  # -> the source's definition text


def base_ns(unit: str) -> int:
    """``T`` in nanoseconds: noon, or the next midnight for dates."""
    return T_NS + 12 * HOUR_NS if unit == "day" else T_NS


def base(unit: str) -> dt.datetime:
    return T + timedelta(hours=12) if unit == "day" else T


def ttl_ns(unit: str) -> int:
    return 2 * NS_PER["day"] if unit == "day" else HOUR_NS


def feature_rows(unit: str) -> list[tuple[int, int, int, int]]:
    """``ROWS`` as (key, ts, created, value), times in nanoseconds since the epoch (UTC)."""
    t, step, ttl = base_ns(unit), NS_PER[unit], ttl_ns(unit)
    mid = t - (NS_PER["day"] if unit == "day" else HOUR_NS // 2)
    return [
        (1, t - ttl, t - ttl, 1),
        (1, t, t, 2),
        (1, t + step, t + step, 3),
        (2, t - ttl - step, t - ttl - step, 4),
        (3, t - ttl, t - ttl, 5),
        (4, mid, mid, 6),
        (4, mid, mid + step, 7),
        (5, mid - step, mid - step, 8),
        (5, mid, mid, 9),
        (6, mid, t + step, 10),
        (6, mid - step, mid - step, 11),
    ]


FILE_SOURCE = (
    'FileSource(name="src", path="data/{file}", timestamp_field="ts", created_timestamp_field="created")'
)


def parquet(unit: str, zone: str | None) -> Callable[[Path, list[tuple[int, int, int, int]]], str]:
    def write(root: Path, body: list[tuple[int, int, int, int]]) -> str:
        arrow = pa.timestamp(unit, tz=zone)
        columns = list(zip(*body, strict=True))

        def times(values: tuple[int, ...]) -> pa.Array:
            exact = pa.array(values, pa.timestamp("ns", tz=zone))
            return exact.cast(arrow)  # a safe cast: every value is a whole number of units

        table = pa.table(
            {"driver_id": columns[0], "ts": times(columns[1]), "created": times(columns[2]), "v": columns[3]}
        )
        (root / "data").mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / "data" / "src.parquet")
        return FILE_SOURCE.format(file="src.parquet")

    return write


def dates(root: Path, body: list[tuple[int, int, int, int]]) -> str:
    def day(ns: int) -> dt.date:
        return dt.date(1970, 1, 1) + timedelta(days=ns // NS_PER["day"])

    table = pa.table(
        {
            "driver_id": [r[0] for r in body],
            "ts": pa.array([day(r[1]) for r in body], pa.date32()),
            "created": pa.array([day(r[2]) for r in body], pa.date32()),
            "v": [r[3] for r in body],
        }
    )
    (root / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / "data" / "src.parquet")
    return FILE_SOURCE.format(file="src.parquet")


def text(ns: int, zone: str | None) -> str:
    """A CSV timestamp: naive UTC, or local time in ``zone`` with its offset."""
    instant = dt.datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
    if zone is None:
        return instant.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return instant.astimezone(ZoneInfo(zone)).isoformat(sep=" ", timespec="microseconds")


def csv(zone: str | None, *, sql: bool) -> Callable[[Path, list[tuple[int, int, int, int]]], str]:
    def write(root: Path, body: list[tuple[int, int, int, int]]) -> str:
        lines = ["driver_id,ts,created,v"]
        lines += [f"{k},{text(ts, zone)},{text(c, zone)},{v}" for k, ts, c, v in body]
        (root / "data").mkdir(parents=True, exist_ok=True)
        (root / "data" / "src.csv").write_text("\n".join(lines) + "\n")
        if not sql:
            return FILE_SOURCE.format(file="src.csv")
        return (
            'SqlSource(name="src", query="SELECT * FROM read_csv(\'data/src.csv\')", '
            'timestamp_field="ts", created_timestamp_field="created")'
        )

    return write


def cast_to(duckdb_type: str, unit: str) -> Callable[[Path, list[tuple[int, int, int, int]]], str]:
    """A SqlSource that casts Parquet microseconds to another DuckDB timestamp type."""

    def write(root: Path, body: list[tuple[int, int, int, int]]) -> str:
        parquet(unit, None)(root, body)
        query = (
            f"SELECT driver_id, v, CAST(ts AS {duckdb_type}) AS ts, "
            f"CAST(created AS {duckdb_type}) AS created FROM read_parquet('data/src.parquet')"
        )
        return (
            f'SqlSource(name="src", query="{query}", timestamp_field="ts", created_timestamp_field="created")'
        )

    return write


CASES = [
    *[
        Case(
            f"parquet-{unit}-{zone or 'naive'}",
            unit,
            f"timestamp[{'ns' if unit == 'ns' else 'us'}{', tz=UTC' if zone else ''}]",
            parquet(unit, zone),
        )
        for unit in ("s", "ms", "us", "ns")
        for zone in (None, "UTC", "America/New_York")
    ],
    Case("parquet-date32", "day", "date32[day]", dates),
    Case("sql-timestamp_s", "s", "timestamp[s]", cast_to("TIMESTAMP_S", "s")),
    Case("sql-timestamp_ms", "ms", "timestamp[ms]", cast_to("TIMESTAMP_MS", "ms")),
    Case("sql-timestamptz_ns", "ns", "timestamp[ns, tz=UTC]", cast_to("TIMESTAMPTZ_NS", "ns")),
    Case("sql-csv-naive", "us", "timestamp[us]", csv(None, sql=True)),
    Case("sql-csv-utc-offset", "us", "timestamp[us, tz=UTC]", csv("UTC", sql=True)),
    Case("sql-csv-new-york-offset", "us", "timestamp[us, tz=UTC]", csv("America/New_York", sql=True)),
    Case("csv-file-naive", "us", "timestamp[us]", csv(None, sql=False)),
]

DEFS = """
driver = Entity(name="driver", join_keys=["driver_id"])
view = FeatureView(name="view", entities=[driver], source={source}, ttl=timedelta(microseconds={ttl_us}),
                   features=[Feature("v", "int64")])
"""


def entity_step(unit: str) -> timedelta:
    """One unit of the column, at least a microsecond (entity rows are microseconds)."""
    return max(timedelta(microseconds=NS_PER[unit] // 1000), US)


def entity_table(unit: str) -> pa.Table:
    t, e = base(unit), entity_step(unit)
    body = [(1, t), (1, t - US), (1, t + e), (2, t), (2, t - e), (3, t), (3, t + US), (4, t), (5, t), (6, t)]
    return pa.table(
        {
            "driver_id": [k for k, _ in body],
            "event_timestamp": pa.array([t for _, t in body], pa.timestamp("us")),
        }
    )


# Hand-checked against the table in the module docstring, entity rows as in entity_table.
EXPECTED = [2, 1, 3, None, 4, 5, None, 7, 9, 10]
EXPECTED_KNOWN_AT = [2, 1, 3, None, 4, 5, None, 7, 9, 11]
# Online at T, keys 1..6: the latest value inside the ttl; key 2 has none.
ONLINE = {"v": [2, None, 5, 7, 9, 10]}
ONLINE_STATUSES = ["PRESENT", "NOT_FOUND", "PRESENT", "PRESENT", "PRESENT", "PRESENT"]


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests materialize as of T (in 2024): the online store's clock reads T."""
    freeze_online_clock(monkeypatch, T)


@pytest.fixture
def case_store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Case, FeatureStore]]:
    case: Case = request.param
    source = case.write(tmp_path, feature_rows(case.unit))
    defs = DEFS.format(source=source, ttl_us=ttl_ns(case.unit) // 1000)
    with make_repo(tmp_path, defs) as store:
        yield case, store


@pytest.mark.usefixtures("frozen_clock")
@pytest.mark.parametrize("case_store", CASES, ids=[c.id for c in CASES], indirect=True)
def test_every_timestamp_type_gives_the_hand_checked_values(case_store: tuple[Case, FeatureStore]) -> None:
    case, store = case_store
    schema = store.registry.view("view").source_schema
    assert (schema["ts"], schema["created"]) == (case.arrow_type, case.arrow_type)

    entity = entity_table(case.unit)
    out = store.get_training_set(entity, ["view:v"]).to_arrow()
    assert out.column("v").to_pylist() == EXPECTED
    known = store.get_training_set(entity, ["view:v"], as_known_at=True).to_arrow()
    assert known.column("v").to_pylist() == EXPECTED_KNOWN_AT

    t = base(case.unit)
    summary = store.materialize(end=t)
    assert summary.entities_written == 5
    online = store.get_online_features(["view:v"], {"driver_id": [1, 2, 3, 4, 5, 6]}, now=t)
    assert online.to_dict() == {"driver_id": [1, 2, 3, 4, 5, 6], **ONLINE}
    assert online.statuses()["v"] == ONLINE_STATUSES
    # The event time kept online is the chosen row's, in microseconds.
    stamps = online.event_timestamps()["v"]
    assert stamps[0] == t.replace(tzinfo=UTC)
    assert stamps[2] == t.replace(tzinfo=UTC) - timedelta(microseconds=ttl_ns(case.unit) // 1000)

    [check] = store.verify(sample=None)
    assert (check.entities, check.mismatches) == (6, 0), check.examples


def test_a_nanosecond_row_one_ns_after_the_materialization_end_is_not_written(
    tmp_path: Path, frozen_clock: None
) -> None:
    # Materialize as of T reads rows up to T exactly: a row at T + 1 ns is after T (not the latest
    # value at T), and an incremental run to a later end picks it up.
    body = [(1, T_NS - 5, T_NS - 5, 1), (1, T_NS + 1, T_NS + 1, 2), (2, T_NS + 999, T_NS + 999, 3)]
    source = parquet("ns", "UTC")(tmp_path, body)
    with make_repo(tmp_path, DEFS.format(source=source, ttl_us=HOUR_NS // 1000)) as store:
        assert store.materialize(end=T).entities_written == 1
        online = store.get_online_features(["view:v"], {"driver_id": [1, 2]}, now=T)
        assert online.to_dict()["v"] == [1, None]
        # T - 5 ns is shown truncated: 11:59:59.999999.
        assert online.event_timestamps()["v"][0] == utc(2024, 1, 1, 11, 59, 59, 999999)
        assert store.materialize_incremental(end=T + US).entities_written == 2
        online = store.get_online_features(["view:v"], {"driver_id": [1, 2]}, now=T + US)
        assert online.to_dict()["v"] == [2, 3]
        assert online.event_timestamps()["v"] == [utc(2024, 1, 1, 12), utc(2024, 1, 1, 12)]
        assert [c.mismatches for c in store.verify(sample=None)] == [0]


# -- a timestamp column of the wrong type ------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "arrow_type", "fix"),
    [
        (pa.array([1_704_110_400]), "int64", "SELECT * REPLACE (to_timestamp(ts) AS ts)"),
        (pa.array(["2024-01-01 12:00:00"]), "string", "SELECT * REPLACE (CAST(ts AS TIMESTAMPTZ) AS ts)"),
        (pa.array([1.5]), "double", "SELECT * REPLACE (CAST(ts AS TIMESTAMP) AS ts)"),
    ],
)
def test_a_timestamp_column_of_the_wrong_type_is_refused_with_the_fix(
    tmp_path: Path, column: pa.Array, arrow_type: str, fix: str
) -> None:
    defs = """
    driver = Entity(name="driver", join_keys=["driver_id"])
    view = FeatureView(name="view", entities=[driver], ttl=None,
                       source=FileSource(name="src", path="data/src.parquet", timestamp_field="ts"),
                       features=[Feature("v", "int64")])
    """
    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({"driver_id": [1], "ts": column, "v": [1]}), tmp_path / "data" / "src.parquet")
    with pytest.raises(SchemaMismatchError) as caught:
        make_repo(tmp_path, defs)
    message = str(caught.value)
    assert message.startswith("feature view 'view' (")
    assert "/definitions/defs.py:" in message.split(")")[0]
    assert f"timestamp column 'ts' has type {arrow_type} in the source" in message
    for accepted in (
        "timestamp[s]",
        "timestamp[ms]",
        "timestamp[us],",
        "timestamp[ns]",
        "timestamp[us, tz=UTC]",
    ):
        assert accepted in message
    assert "or date32[day]" in message
    assert f"{fix} FROM read_parquet('data/src.parquet')" in message


def test_the_suggested_fix_works(tmp_path: Path) -> None:
    # The SqlSource the error message proposes for epoch seconds, applied as written.
    defs = """
    driver = Entity(name="driver", join_keys=["driver_id"])
    query = "SELECT * REPLACE (to_timestamp(ts) AS ts) FROM read_parquet('data/src.parquet')"
    view = FeatureView(name="view", entities=[driver], ttl=None,
                       source=SqlSource(name="src", timestamp_field="ts", query=query),
                       features=[Feature("v", "int64")])
    """
    (tmp_path / "data").mkdir()
    table = pa.table({"driver_id": [1, 1], "ts": [T_NS // 10**9, T_NS // 10**9 + 1], "v": [1, 2]})
    pq.write_table(table, tmp_path / "data" / "src.parquet")
    with make_repo(tmp_path, defs) as store:
        entity = pa.table({"driver_id": [1, 1], "event_timestamp": pa.array([T, T + US], pa.timestamp("us"))})
        assert store.get_training_set(entity, ["view:v"]).to_arrow().column("v").to_pylist() == [1, 1]


# -- entity rows' timestamps of every type ---------------------------------------------------------------


@pytest.fixture(scope="module")
def entity_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FeatureStore]:
    # Rows at T, T + 1 us, T + 1 ms and T + 1 s (microsecond source; ttl 1 h).
    root = tmp_path_factory.mktemp("entity_types")
    body = [(1, T_NS + d, T_NS + d, v) for d, v in ((0, 1), (1_000, 2), (1_000_000, 3), (10**9, 4))]
    source = parquet("us", None)(root, body)
    with make_repo(root, DEFS.format(source=source, ttl_us=HOUR_NS // 1000)) as store:
        yield store


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("zone", [None, "UTC", "America/New_York"])
def test_entity_timestamps_of_every_unit_and_zone(
    entity_store: FeatureStore, unit: str, zone: str | None
) -> None:
    step = NS_PER[unit]
    # T, and T + one unit: for nanoseconds that is truncated to T (the row at T + 1 us is after it).
    instants = pa.array([T_NS, T_NS + step], pa.timestamp("ns", tz=zone)).cast(pa.timestamp(unit, tz=zone))
    entity = pa.table({"driver_id": [1, 1], "event_timestamp": instants})
    out = entity_store.get_training_set(entity, ["view:v"]).to_arrow()
    assert out.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    later = {"s": (utc(2024, 1, 1, 12, 0, 1), 4), "ms": (utc(2024, 1, 1, 12, 0, 0, 1000), 3)}.get(
        unit, (utc(2024, 1, 1, 12, 0, 0, 1), 2)
    )
    if unit == "ns":
        later = (utc(2024, 1, 1, 12), 1)
    assert rows(out, "event_timestamp", "v") == [(utc(2024, 1, 1, 12), 1), later]


def test_entity_timestamps_as_dates_pandas_and_polars(entity_store: FeatureStore) -> None:
    # A date is midnight UTC: 2024-01-01 has nothing within the 1 h ttl, 2024-01-02 neither.
    for arrow in (pa.date32(), pa.date64()):
        days = pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, 2)], arrow)
        out = entity_store.get_training_set(
            pa.table({"driver_id": [1, 1], "event_timestamp": days}), ["view:v"]
        )
        assert rows(out.to_arrow(), "event_timestamp", "v") == [
            (utc(2024, 1, 1), None),
            (utc(2024, 1, 2), None),
        ]
    # pandas writes tz-aware datetimes as timestamp[ns, tz]: 07:00:00.000001001 in New York.
    frame = pd.DataFrame(
        {
            "driver_id": [1, 1],
            "event_timestamp": pd.to_datetime(
                ["2024-01-01 07:00:00", "2024-01-01 07:00:00.000001001"], format="ISO8601"
            ),
        }
    )
    frame["event_timestamp"] = frame["event_timestamp"].dt.tz_localize("America/New_York")
    out = entity_store.get_training_set(frame, ["view:v"]).to_arrow()
    assert rows(out, "event_timestamp", "v") == [(utc(2024, 1, 1, 12), 1), (utc(2024, 1, 1, 12, 0, 0, 1), 2)]
    polars = pl.DataFrame({"driver_id": [1], "event_timestamp": [dt.datetime(2024, 1, 1, 12, 0, 1)]})
    assert rows(entity_store.get_training_set(polars, ["view:v"]).to_arrow(), "v") == [(4,)]


def test_nanosecond_entity_timestamps_before_1970_are_truncated_toward_the_past(tmp_path: Path) -> None:
    # -1 ns is 1969-12-31 23:59:59.999999999: truncated to ...999999, before a row at 1970-01-01.
    body = [(1, 0, 0, 1), (1, -2_000, -2_000, 2)]
    source = parquet("us", None)(tmp_path, body)
    with make_repo(tmp_path, DEFS.format(source=source, ttl_us=HOUR_NS // 1000)) as store:
        entity = pa.table({"driver_id": [1, 1], "event_timestamp": pa.array([-1, 0], pa.timestamp("ns"))})
        out = store.get_training_set(entity, ["view:v"]).to_arrow()
        epoch = dt.datetime(1970, 1, 1, tzinfo=UTC)
        assert rows(out, "event_timestamp", "v") == [(epoch - US, 2), (epoch, 1)]


def test_default_mode_keeps_rows_with_any_created_type(tmp_path: Path, frozen_clock: None) -> None:
    # A µs event time with a nanosecond created column: ties on ts go to the greatest created in
    # nanoseconds, and as known at t a row created 1 ns after t is not known.
    table = pa.table(
        {
            "driver_id": [1, 1, 2, 2],
            "ts": pa.array([T - timedelta(minutes=1)] * 4, pa.timestamp("us")),
            "created": pa.array([T_NS - 2, T_NS - 1, T_NS, T_NS + 1], pa.timestamp("ns", tz="UTC")),
            "v": [1, 2, 3, 4],
        }
    )
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data" / "src.parquet")
    source = FILE_SOURCE.format(file="src.parquet")
    with make_repo(tmp_path, DEFS.format(source=source, ttl_us=HOUR_NS // 1000)) as store:
        entity = pa.table({"driver_id": [1, 2], "event_timestamp": pa.array([T, T], pa.timestamp("us"))})
        assert store.get_training_set(entity, ["view:v"]).to_arrow().column("v").to_pylist() == [2, 4]
        known = store.get_training_set(entity, ["view:v"], as_known_at=True).to_arrow()
        assert known.column("v").to_pylist() == [2, 3]
        store.materialize(end=T)
        assert store.get_online_features(["view:v"], {"driver_id": [1, 2]}, now=T).to_dict()["v"] == [2, 4]
        assert [c.mismatches for c in store.verify(sample=None)] == [0]


@pytest.mark.parametrize("zone", [None, "UTC"])
def test_nanosecond_timestamp_features_are_truncated_not_rounded(
    tmp_path: Path, frozen_clock: None, zone: str | None
) -> None:
    # 12:00:00.000000999 is shown as 12:00:00 (a plain cast would round it to 12:00:00.000001).
    defs = """
    driver = Entity(name="driver", join_keys=["driver_id"])
    view = FeatureView(name="view", entities=[driver], ttl=None,
                       source=FileSource(name="src", path="data/src.parquet", timestamp_field="ts"),
                       features=[Feature("seen", "timestamp")])
    """
    table = pa.table(
        {
            "driver_id": [1],
            "ts": pa.array([T], pa.timestamp("us")),
            "seen": pa.array([T_NS + 999], pa.timestamp("ns", tz=zone)),
        }
    )
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data" / "src.parquet")
    with make_repo(tmp_path, defs) as store:
        entity = pa.table({"driver_id": [1], "event_timestamp": pa.array([T], pa.timestamp("us"))})
        out = store.get_training_set(entity, ["view:seen"]).to_arrow()
        assert out.schema.field("seen").type == pa.timestamp("us", tz="UTC")
        assert out.column("seen").to_pylist() == [utc(2024, 1, 1, 12)]
        store.materialize(end=T)
        online = store.get_online_features(["view:seen"], {"driver_id": [1]}, now=T)
        assert online.to_dict()["seen"] == [utc(2024, 1, 1, 12)]
