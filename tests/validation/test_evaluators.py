"""The two evaluators (in the engine, over Arrow) on hand-checked tables, and a property test: both give
identical reports on random small tables with nulls, NaN, boundary values and values not allowed."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.config import DuckDBConfig
from featurestore.dsl.checks import AllowedValues, Between, Check, Freshness, NotNull, RowCount
from featurestore.engines.duckdb import DuckDBEngine
from featurestore.validation.arrow import validate_table
from featurestore.validation.engine import validate_in_engine
from featurestore.validation.report import ValidationReport
from featurestore.validation.rules import Rule

END = datetime(2026, 11, 30, 12)
KEYS = ("driver_id",)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> DuckDBEngine:
    return DuckDBEngine(DuckDBConfig(), tmp_path_factory.mktemp("engine"))


def both(
    engine: DuckDBEngine, table: pa.Table, rules: tuple[Rule, ...]
) -> tuple[ValidationReport, ValidationReport]:
    engine.register("checked_rows", table)
    try:
        in_engine = validate_in_engine(engine, rules, 'SELECT * FROM "checked_rows"', KEYS, END)
    finally:
        engine.unregister("checked_rows")
    return in_engine, validate_table(table, rules, KEYS, END)


def stats_table() -> pa.Table:
    return pa.table(
        {
            "driver_id": pa.array([5, 3, 1, 2, 4, 6], pa.int64()),
            "__event_ts": pa.array([END - timedelta(days=2, hours=3)] * 6, pa.timestamp("us")),
            "conv_rate": pa.array([0.5, 1.7, None, float("nan"), 1.0, -0.2], pa.float64()),
            "tier": pa.array(["gold", "XX", "XX", None, "silver", "YY"], pa.string()),
        }
    )


def test_hand_checked_report(engine: DuckDBEngine) -> None:
    rules = (
        Rule("stats", None, RowCount(min=10), ""),
        Rule("stats", None, Freshness(max_age=timedelta(days=1), severity="warn"), ""),
        Rule("stats", "conv_rate", Between(0, 1), "float64"),
        Rule("stats", "conv_rate", NotNull(max_fraction=0.5), "float64"),
        Rule("stats", "conv_rate", NotNull(max_fraction=0.01), "float64"),
        Rule("stats", "tier", AllowedValues(["gold", "silver"]), "string"),
    )
    in_engine, over_arrow = both(engine, stats_table(), rules)
    assert in_engine == over_arrow
    assert [v.line() for v in in_engine.violations] == [
        "error stats RowCount(min=10): 6 rows",
        "warn stats Freshness(max_age=1d): newest event 2026-11-28 09:00 (2 days 3 h before end)",
        "error stats:conv_rate Between(0, 1): min -0.2, max 1.7 (2 rows; driver_id=3; driver_id=6)",
        "error stats:conv_rate NotNull(max_fraction=0.01): null fraction 0.333 "
        "(2 rows; driver_id=1; driver_id=2)",
        "error stats:tier AllowedValues(['gold', 'silver']): 3 values not allowed: 'XX', 'YY' "
        "(3 rows; driver_id=1; driver_id=3; driver_id=6)",
    ]
    assert in_engine.rules_checked == 6
    assert (len(in_engine.errors), len(in_engine.warnings), in_engine.ok) == (4, 1, False)
    assert '"rule": "Between(0, 1)"' in in_engine.to_json()


def test_no_rows(engine: DuckDBEngine) -> None:
    rules = (
        Rule("s", None, RowCount(), ""),
        Rule("s", None, Freshness(max_age=timedelta(hours=1)), ""),
        Rule("s", "conv_rate", NotNull(), "float64"),
        Rule("s", "conv_rate", Between(0, 1), "float64"),
    )
    in_engine, over_arrow = both(engine, stats_table().slice(0, 0), rules)
    assert in_engine == over_arrow
    assert [v.observed for v in in_engine.violations] == ["0 rows", "no events"]


# -- the property: one semantics, two evaluators ---------------------------------------------------

FLOATS = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.sampled_from([0.0, 1.0, -0.0, 0.5, 1.0000001, -1e-9]),
    st.floats(min_value=-3, max_value=3, allow_nan=False),
)
INTS = st.one_of(st.none(), st.integers(min_value=-3, max_value=5))
TIERS = st.one_of(st.none(), st.sampled_from(["gold", "silver", "XX", "yy", ""]))
ROW = st.tuples(FLOATS, INTS, TIERS, st.integers(min_value=0, max_value=72))


def checks_for(dtype: str) -> st.SearchStrategy[Check]:
    number = st.sampled_from([0, 1, 0.5, -1, 2]) if dtype == "float64" else st.integers(-2, 4)
    between = st.one_of(
        st.tuples(number, number).map(lambda b: Between(min(b), max(b))),
        number.map(lambda b: Between(min=b)),
        number.map(lambda b: Between(max=b)),
    )
    not_null = st.sampled_from([0.0, 0.1, 0.5, 0.9]).map(lambda f: NotNull(max_fraction=f))
    return st.one_of(between, not_null)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(ROW, max_size=12),
    rate_checks=st.lists(checks_for("float64"), max_size=3),
    count_checks=st.lists(checks_for("int64"), max_size=2),
    allowed=st.lists(st.sampled_from(["gold", "silver", "XX"]), min_size=1, max_size=2, unique=True),
    min_rows=st.integers(0, 8),
    max_age_hours=st.integers(1, 80),
)
def test_engine_and_arrow_agree(
    engine: DuckDBEngine,
    rows: list[tuple[float | None, int | None, str | None, int]],
    rate_checks: list[Check],
    count_checks: list[Check],
    allowed: list[str],
    min_rows: int,
    max_age_hours: int,
) -> None:
    table = pa.table(
        {
            "driver_id": pa.array(range(len(rows)), pa.int64()),
            "__event_ts": pa.array([END - timedelta(hours=r[3]) for r in rows], pa.timestamp("us")),
            "rate": pa.array([r[0] for r in rows], pa.float64()),
            "trips": pa.array([r[1] for r in rows], pa.int64()),
            "tier": pa.array([r[2] for r in rows], pa.string()),
        }
    )
    rules = (
        Rule("v", None, RowCount(min=min_rows), ""),
        Rule("v", None, Freshness(max_age=timedelta(hours=max_age_hours)), ""),
        *(Rule("v", "rate", c, "float64") for c in rate_checks),
        *(Rule("v", "trips", c, "int64") for c in count_checks),
        Rule("v", "tier", AllowedValues(allowed), "string"),
    )
    in_engine, over_arrow = both(engine, table, rules)
    assert in_engine == over_arrow
    # And against the rules read directly off the rows: null fraction and values outside the bounds.
    for rule in rules[2:]:
        values = [r[0] if rule.feature == "rate" else r[1] for r in rows]
        clean = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
        broken = [v for v in in_engine.violations if v.rule == rule.check.text and v.feature == rule.feature]
        if isinstance(rule.check, Between):
            lo, hi = rule.check.min, rule.check.max
            outside = [v for v in clean if (lo is not None and v < lo) or (hi is not None and v > hi)]
            assert bool(broken) == bool(outside)
            if broken:
                assert broken[0].rows == len(outside)
        elif isinstance(rule.check, NotNull):
            nulls = len(values) - len(clean)
            assert bool(broken) == (bool(values) and nulls / len(values) > rule.check.max_fraction)
