"""Validation's queries, one tree for every dialect: every number a view's checks need, counted in one
pass over the rows a run would write, and the first offending rows of one violated rule.

Both read the rows query of a materialization (join keys, ``__event_ts``, features), parsed back into a
tree in the dialect it was written in. A float value that is NaN counts as null, as the statistics do.
A dialect passes its ``CheckDialect``.

>>> pieces = CheckDialect("duckdb", lambda scan, features: exp.select("*"))
>>> measures = (Measure("n", "rows"), Measure("m0", "nulls", "rate"))
>>> print(render_check_counts(pieces, "SELECT k, rate FROM t", measures))
SELECT
  COUNT(*) AS "n",
  SUM(CASE WHEN "rate" IS NULL THEN 1 ELSE 0 END) AS "m0"
FROM (
  SELECT
    k,
    rate
  FROM t
) AS "rows"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlglot import exp, parse_one
from sqlglot.dialects.dialect import Dialect

from featurestore.plan.nodes import SourceScan
from featurestore.sql.measures import EVENT_TS, Measure
from featurestore.sql.renderer import TS
from featurestore.sql.trees import col, ident


@dataclass(frozen=True)
class CheckDialect:
    """What validation's queries take from a dialect: the sqlglot dialect its rows queries are written
    (and read back) in, and its scan of a source (keys, ``TS``, created, features; filtered, bounded)."""

    dialect: str | type[Dialect]
    scan_select: Callable[[SourceScan, list[str]], exp.Select]


def _value(m: Measure) -> exp.Expr:
    """The column as validation sees it: NaN read as null."""
    assert m.column is not None  # every measure but rows and newest names its column
    if not m.is_float:
        return col(m.column)
    return exp.Case(ifs=[exp.If(this=exp.IsNan(this=col(m.column)), true=exp.null())], default=col(m.column))


def _literal(value: str | int | bool | float) -> exp.Expr:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, str):
        return exp.Literal.string(value)
    return exp.Literal.number(repr(value))


def _as_double(value: exp.Expr) -> exp.Expr:
    return exp.Cast(this=value, to=exp.DataType.build("DOUBLE"))


def predicate(m: Measure) -> exp.Expr:
    """The rows ``m`` counts (``nulls``, ``outside``, ``not_allowed``).

    >>> predicate(Measure("b", "outside", "x", low=0, high=1)).sql()
    'CAST("x" AS DOUBLE) < 0 OR CAST("x" AS DOUBLE) > 1'
    """
    value = _value(m)
    if m.kind == "nulls":
        return exp.Is(this=value, expression=exp.null())
    if m.kind == "outside":
        sides: list[exp.Expr] = []
        if m.low is not None:
            sides.append(exp.LT(this=_as_double(value.copy()), expression=_literal(m.low)))
        if m.high is not None:
            sides.append(exp.GT(this=_as_double(value.copy()), expression=_literal(m.high)))
        return exp.or_(*sides)
    if m.kind == "not_allowed":
        allowed = exp.In(this=value.copy(), expressions=[_literal(v) for v in m.values])
        return exp.and_(exp.Not(this=exp.Is(this=value, expression=exp.null())), exp.Not(this=allowed))
    raise ValueError(f"measure kind {m.kind!r} selects no rows")


def _aggregate(m: Measure) -> exp.Expr:
    if m.kind == "rows":
        return exp.Count(this=exp.Star())
    if m.kind == "newest":
        return exp.Max(this=col(EVENT_TS))
    if m.kind == "min":
        return exp.Min(this=_value(m))
    if m.kind == "max":
        return exp.Max(this=_value(m))
    flag = exp.Case(
        ifs=[exp.If(this=predicate(m), true=exp.Literal.number(1))], default=exp.Literal.number(0)
    )
    return exp.Sum(this=flag)


def _rows(pieces: CheckDialect, rows_query: str) -> exp.Subquery:
    return exp.Subquery(
        this=parse_one(rows_query, read=pieces.dialect), alias=exp.TableAlias(this=ident("rows"))
    )


def render_check_counts(pieces: CheckDialect, rows_query: str, measures: tuple[Measure, ...]) -> str:
    """One row: each measure over the rows of ``rows_query``, named by its ``name``."""
    query = exp.select(*[exp.alias_(_aggregate(m), m.name, quoted=True) for m in measures])
    return query.from_(_rows(pieces, rows_query)).sql(dialect=pieces.dialect, pretty=True)


def render_check_offenders(
    pieces: CheckDialect, rows_query: str, measure: Measure, keys: tuple[str, ...], limit: int
) -> str:
    """The join keys and the checked column of the first ``limit`` rows ``measure`` counts, in key order
    (nulls last), so that every evaluator names the same rows."""
    assert measure.column is not None
    columns = list(dict.fromkeys([*keys, measure.column]))
    query = exp.select(*[col(c) for c in columns]).from_(_rows(pieces, rows_query)).where(predicate(measure))
    order = [exp.Ordered(this=col(k), nulls_first=False) for k in keys]
    return query.order_by(*order).limit(limit).sql(dialect=pieces.dialect, pretty=True)


def render_source_rows(pieces: CheckDialect, scan: SourceScan, features: tuple[str, ...]) -> str:
    """Every row of the scan (within its bounds, keys and time not null) as validation reads rows: keys,
    ``__event_ts``, ``features`` (``validate --all-rows``)."""
    rows = pieces.scan_select(scan, list(features))
    out: list[exp.Expr] = [col(k, "s") for k in scan.key_columns]
    out.append(exp.alias_(col(TS, "s"), EVENT_TS, quoted=True))
    out.extend(col(f, "s") for f in features)
    query = exp.select(*out).from_(exp.Subquery(this=rows, alias=exp.TableAlias(this=ident("s"))))
    return query.sql(dialect=pieces.dialect, pretty=True)
