"""Time expressions for the DuckDB renderer: source time columns of any accepted type, compared
exactly with the naive UTC microsecond times of plans (entity rows, bounds, watermarks).

Column types are Arrow type names (``dsl/dtypes.py``). Every accepted time type (``is_time_type``) is an
instant: naive values are UTC,
zoned ones are converted (the session time zone is UTC), a date is midnight UTC. Plans carry
microseconds, so a nanosecond value ``x`` is compared with a microsecond time ``m`` through whole
microseconds without losing exactness:

* ``x <= m``  iff  ``ceil_us(x) <= m``,  and  ``x > m``  iff  ``ceil_us(x) > m``;
* ``x >= m``  iff  ``floor_us(x) >= m``, and  ``x < m``  iff  ``floor_us(x) < m``.

So a feature row 1 ns after ``t`` is after ``t``, and one 1 ns before ``t - ttl`` is outside the ttl.
Where a nanosecond time is *shown* (an online event time), it is truncated: ``floor_us``.

    >>> from datetime import datetime
    >>> as_micros(exp.column("ts"), "timestamp[ns]").sql("duckdb")
    'MAKE_TIMESTAMP(EPOCH_NS(ts) // 1000 - CAST(EPOCH_NS(ts) % 1000 < 0 AS BIGINT))'
    >>> bound(exp.column("ts"), "timestamp[us]", ">=", datetime(2024, 1, 1)).sql("duckdb")
    "ts >= CAST('2024-01-01 00:00:00.000000' AS TIMESTAMP)"
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Literal

from sqlglot import exp

from featurestore.dsl.dtypes import is_date, is_nanosecond, is_zoned
from featurestore.sql.duckdb_types import duckdb_type

if TYPE_CHECKING:
    from featurestore.plan.nodes import SourceScan

Op = Literal["<=", ">=", ">", "<"]

# Nanosecond literals are exact only inside the range a 64-bit nanosecond count holds
# (1677-09-21 .. 2262-04-11); outside it a bound is compared in whole microseconds instead.
_NS_SAFE = (datetime(1678, 1, 1), datetime(2262, 1, 1))
PLAN_TIME = "timestamp[us]"  # the type of every time a plan carries: naive UTC microseconds


def upper_op(scan: SourceScan) -> Op:
    """How an event time is compared with a plan's time it must not pass: ``<=``, or ``<`` when the
    scan's view excludes events at the current time (``SourceScan.exclude_current_time``)."""
    return "<" if scan.exclude_current_time else "<="


def after_op(scan: SourceScan) -> Op:
    """How an event time is compared with a mark it must be after (a watermark, partial states' time):
    ``>``, or ``>=`` when events at a mark were left out of the run that ended there."""
    return ">=" if scan.exclude_current_time else ">"


def exact_times(scan: SourceScan) -> bool:
    """Does the scan need the nanosecond columns (``TS_UP``, ``TS_NS``, ... of ``sql/duckdb.py``) to
    compare exactly? Also what partial states record (``registry/partials.py``)."""
    created_ns = scan.created_field is not None and is_nanosecond(scan.created_type)
    return is_nanosecond(scan.timestamp_type) or created_ns


def ts_literal(value: datetime, column_type: str) -> exp.Expr:
    """A timestamp constant typed like the column it is compared with (keeps scan pushdown).

    A date column gets the date of ``value`` (the time of day dropped)."""
    text = value.strftime("%Y-%m-%d %H:%M:%S.%f")
    kind = column_type
    if is_date(kind):
        return exp.cast(exp.cast(exp.Literal.string(text), "TIMESTAMP"), "DATE")
    if is_nanosecond(kind):
        name = duckdb_type(kind)
        if is_zoned(kind):  # a type sqlglot does not know: passed through by name
            return exp.cast(exp.Literal.string(text + "+00"), exp.DataType.build(name, udt=True))
        return exp.cast(exp.Literal.string(text), exp.DataType.build(name, dialect="duckdb"))
    if is_zoned(kind):
        return exp.cast(exp.Literal.string(text + "+00"), "TIMESTAMPTZ")
    return exp.cast(exp.Literal.string(text), "TIMESTAMP")


def _epoch_ns(column: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this="epoch_ns", expressions=[column])


def _micros(nanos: exp.Expr, up: bool) -> exp.Expr:
    """Whole microseconds of a nanosecond count, rounded down (or up). DuckDB's ``//`` and ``%``
    truncate toward zero, so the quotient is corrected by the remainder's sign."""
    thousand = exp.Literal.number(1000)
    quotient = exp.IntDiv(this=nanos, expression=thousand)
    remainder = exp.Mod(this=nanos.copy(), expression=thousand.copy())
    if up:
        fix = exp.cast(exp.GT(this=remainder, expression=exp.Literal.number(0)), "BIGINT")
        return exp.Add(this=quotient, expression=fix)
    fix = exp.cast(exp.LT(this=remainder, expression=exp.Literal.number(0)), "BIGINT")
    return exp.Sub(this=quotient, expression=fix)


def as_micros(column: exp.Expr, column_type: str) -> exp.Expr:
    """A source time column as a naive UTC ``TIMESTAMP``: nanoseconds truncated toward the past
    (a plain cast would round), zoned values converted through the UTC session zone."""
    if is_nanosecond(column_type):
        micros = _micros(_epoch_ns(column), up=False)
        return exp.Anonymous(this="make_timestamp", expressions=[micros])
    return exp.cast(column, "TIMESTAMP")


def micros_up(column: exp.Expr, column_type: str) -> exp.Expr:
    """``as_micros`` rounded up instead of down: the column for ``x <= t`` and ``x > m`` tests."""
    if is_nanosecond(column_type):
        micros = _micros(_epoch_ns(column), up=True)
        return exp.Anonymous(this="make_timestamp", expressions=[micros])
    return exp.cast(column, "TIMESTAMP")


def order_key(column: exp.Expr, column_type: str) -> exp.Expr:
    """What orders a time column exactly: nanoseconds since the epoch for nanosecond columns."""
    if is_nanosecond(column_type):
        return _epoch_ns(column)
    return exp.cast(column, "TIMESTAMP")


def bound(column: exp.Expr, column_type: str, op: Op, value: datetime) -> exp.Expr:
    """``column op value``, exact at the column's precision, on the raw column where that keeps
    the comparison exact (so Parquet row groups can be skipped)."""
    kind = column_type
    build = {"<=": exp.LTE, ">=": exp.GTE, ">": exp.GT, "<": exp.LT}[op]
    if is_nanosecond(kind):
        if _NS_SAFE[0] <= value <= _NS_SAFE[1]:
            return build(this=column, expression=ts_literal(value, kind))
        rounded = as_micros(column, kind) if op in (">=", "<") else micros_up(column, kind)
        return build(this=rounded, expression=ts_literal(value, PLAN_TIME))
    if is_date(kind) and op != "<=":
        # Midnight of d >= v iff d >= v's date rounded up to a whole day (< is its negation; > likewise:
        # d > v's date).
        day = value.date()
        if op in (">=", "<") and value.time() != time(0):
            try:
                day = day + timedelta(days=1)
            except OverflowError:  # past 9999-12-31: compare as timestamps
                return build(this=exp.cast(column, "TIMESTAMP"), expression=ts_literal(value, PLAN_TIME))
        return build(this=column, expression=exp.cast(exp.Literal.string(day.isoformat()), "DATE"))
    return build(this=column, expression=ts_literal(value, kind))
