"""Validation over an Arrow table (pyarrow.compute): what push checks before it writes, and what a
training set checks. The same measures and judgement as in the engine (``rules.py``), counted here.

    >>> import pyarrow as pa
    >>> from featurestore.dsl.checks import NotNull
    >>> table = pa.table({"k": [1, 2, 3], "x": [1.0, None, float("nan")]})
    >>> report = validate_table(table, (Rule("v", "x", NotNull(), "float64"),), ("k",), None)
    >>> report.lines()[0]
    'error v:x NotNull(): null fraction 0.667 (2 rows; k=2; k=3)'
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.sql.measures import EVENT_TS, Measure
from featurestore.validation.report import MAX_KEYS, ValidationReport
from featurestore.validation.rules import Rule, finish, judge, measure_plan, report_of


def validate_table(
    table: pa.Table,
    rules: tuple[Rule, ...],
    keys: tuple[str, ...],
    end: datetime | None,
    *,
    event_column: str = EVENT_TS,
) -> ValidationReport:
    """Evaluate ``rules`` over ``table`` (join ``keys``, the event time in ``event_column``, the checked
    features); ``end``: the naive UTC time Freshness is measured from."""
    plan = measure_plan(rules)
    values = {m.name: _measure(table, m, event_column) for m in plan.measures}
    violations = []
    for judged in judge(plan, values, end):
        rows: list[dict[str, Any]] = []
        if judged.offenders is not None:
            rows = _offenders(table, judged.offenders, keys)
        violations.append(finish(judged, rows, keys))
    return report_of(plan, violations)


def _value(table: pa.Table, m: Measure) -> pa.ChunkedArray:
    """The checked column with NaN read as null."""
    assert m.column is not None
    column = table.column(m.column)
    if not m.is_float:
        return column
    return pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)


def _selects(table: pa.Table, m: Measure) -> pa.ChunkedArray:
    """The rows ``m`` counts (true), as ``sql/check_queries.py::predicate``."""
    value = _value(table, m)
    if m.kind == "nulls":
        return pc.is_null(value)
    if m.kind == "outside":
        number = pc.cast(value, pa.float64())
        sides = []
        if m.low is not None:
            sides.append(pc.less(number, pa.scalar(float(m.low))))
        if m.high is not None:
            sides.append(pc.greater(number, pa.scalar(float(m.high))))
        return sides[0] if len(sides) == 1 else pc.or_(sides[0], sides[1])
    if m.kind == "not_allowed":
        allowed = pa.array(list(m.values), type=value.type)
        return pc.and_(pc.is_valid(value), pc.invert(pc.is_in(value, value_set=allowed)))
    raise ValueError(f"measure kind {m.kind!r} selects no rows")


def _measure(table: pa.Table, m: Measure, event_column: str) -> Any:
    if m.kind == "rows":
        return table.num_rows
    if m.kind == "newest":
        return pc.max(table.column(event_column)).as_py() if table.num_rows else None
    if m.kind in ("min", "max"):
        extremes = pc.min_max(_value(table, m)).as_py()
        return extremes[m.kind]
    return int(pc.sum(pc.cast(pc.fill_null(_selects(table, m), False), pa.int64())).as_py() or 0)


def _offenders(table: pa.Table, m: Measure, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """The keys and checked column of the first rows ``m`` counts, in key order (nulls last)."""
    assert m.column is not None
    chosen = table.filter(pc.fill_null(_selects(table, m), False))
    columns = list(dict.fromkeys([*keys, m.column]))
    if keys:
        chosen = chosen.sort_by([(k, "ascending", "at_end") for k in keys])
    rows: list[dict[str, Any]] = chosen.select(columns).slice(0, MAX_KEYS).to_pylist()
    return rows
