"""Verify's queries, one tree for every dialect: a stable sample of a source's keys, and per entity
row the greatest event time a point-in-time join may pick. A dialect passes its ``VerifyDialect``.

>>> from featurestore.plan.nodes import SourceScan
>>> table, select = (lambda scan, columns: exp.to_table("t")), (lambda scan, features: exp.select("k"))
>>> pieces = VerifyDialect("duckdb", table, select, lambda t: t, "hash")
>>> scan = SourceScan("v", "file", "t.parquet", "parquet", False, "ts", "timestamp[us]", None, ("k",))
>>> render_key_sample(pieces, scan, 5)
'SELECT * FROM (SELECT DISTINCT "k" FROM t WHERE NOT "k" IS NULL) AS "k" ORDER BY HASH("k") LIMIT 5'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from featurestore.plan.nodes import SourceScan
from featurestore.sql.renderer import ENTITY_TS, ROW_ID, TS
from featurestore.sql.trees import col, ident, interval_us


@dataclass(frozen=True)
class VerifyDialect:
    """What verify's queries take from a dialect."""

    dialect: str | type[Dialect]  # sqlglot's name (or class) of the dialect written
    source_table: Callable[[SourceScan, list[str]], exp.Expr]  # the FROM item reading these columns
    scan_select: Callable[[SourceScan, list[str]], exp.Select]  # keys, ``TS``, created, features
    naive: Callable[[exp.Expr], exp.Expr]  # the entity rows' time as the scan's ``TS`` (naive UTC)
    hash_fn: str  # a hash of the keys, the sample's order


def render_key_sample(pieces: VerifyDialect, scan: SourceScan, sample: int | None) -> str:
    """Distinct non-null ``scan.key_columns``, ordered by a hash of the keys (a stable sample)."""
    keys = [col(k) for k in scan.key_columns]
    query = (
        exp.select(*keys)
        .distinct()
        .from_(pieces.source_table(scan, list(scan.key_columns)))
        .where(exp.and_(*[exp.Not(this=exp.Is(this=k.copy(), expression=exp.null())) for k in keys]))
    )
    outer = exp.select("*").from_(exp.Subquery(this=query, alias=exp.TableAlias(this=ident("k"))))
    outer = outer.order_by(exp.Anonymous(this=pieces.hash_fn, expressions=[k.copy() for k in keys]))
    if sample is not None:
        outer = outer.limit(sample)
    return outer.sql(dialect=pieces.dialect)


def render_offline_event_times(
    pieces: VerifyDialect, scan: SourceScan, entity_table: str, ttl: timedelta | None
) -> str:
    """Per entity row (``ROW_ID`` order), the greatest event time ``TS`` of the scan's rows with its
    keys, ``ts <= t`` (``ts < t`` for a view excluding events at t) and, with a ``ttl``,
    ``ts >= t - ttl``: the candidates of a point-in-time join.
    Verify runs it on a small sample of entities, so a keyed join with the time as a filter is fine."""
    keys = scan.key_columns
    candidates = pieces.scan_select(scan, [])
    on: list[exp.Expr] = [exp.EQ(this=col(k, "e"), expression=col(k, "v")) for k in keys]
    before = exp.LT if scan.exclude_current_time else exp.LTE  # the view's events at t: not candidates
    on.append(before(this=col(TS, "v"), expression=pieces.naive(col(ENTITY_TS, "e"))))
    if ttl is not None:
        floor = exp.Sub(this=pieces.naive(col(ENTITY_TS, "e")), expression=interval_us(ttl))
        on.append(exp.GTE(this=col(TS, "v"), expression=floor))
    query = (
        exp.select(col(ROW_ID, "e"), exp.alias_(exp.Max(this=col(TS, "v")), TS, quoted=True))
        .from_(exp.Table(this=ident(entity_table), alias=exp.TableAlias(this=ident("e"))))
        .join(
            exp.Subquery(this=candidates, alias=exp.TableAlias(this=ident("v"))),
            on=exp.and_(*on),
            join_type="LEFT",
        )
        .group_by(col(ROW_ID, "e"))
        .order_by(col(ROW_ID, "e"))
    )
    return query.sql(dialect=pieces.dialect)
