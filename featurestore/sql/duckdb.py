"""DuckDB SQL for plans: native ``ASOF LEFT JOIN``, one per view, ties removed before the join.

The building blocks of every DuckDB statement (scans, ties, the point-in-time joins) and the statements
that need nothing else; ``duckdb_renderer.py`` assembles them (and ``window*.py``'s) behind ``Renderer``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

from sqlglot import exp

from featurestore.dsl.dtypes import is_nanosecond
from featurestore.plan.nodes import FeatureColumn, LatestPerKey, PointInTimeJoin, SourceScan
from featurestore.sql import verify_queries
from featurestore.sql.duckdb_types import DUCKDB_TYPES
from featurestore.sql.renderer import ENTITY_TS as ENTITY_TS
from featurestore.sql.renderer import ROW_ID as ROW_ID
from featurestore.sql.renderer import TS as TS  # event time, naive UTC microseconds (nanoseconds truncated)
from featurestore.sql.timestamps import after_op, bound, micros_up, order_key, upper_op
from featurestore.sql.timestamps import as_micros as as_micros
from featurestore.sql.timestamps import exact_times as exact_times
from featurestore.sql.timestamps import ts_literal as ts_literal
from featurestore.sql.trees import CREATED as CREATED
from featurestore.sql.trees import col as col
from featurestore.sql.trees import ident as ident
from featurestore.sql.trees import interval_us as interval_us

DIALECT = "duckdb"
# Only for nanosecond sources: the times rounded up (for ``<= t``) and in nanoseconds (for ordering).
TS_UP = "__ts_up"
TS_NS = "__ts_ns"
CREATED_UP = "__created_up"
CREATED_NS = "__created_ns"


def source_table(scan: SourceScan) -> exp.Expr:
    """The FROM item of a scan: a file reader call, or the source's query as a subquery; with pushed
    rows, the union (by column name) of the source and the push log."""
    if scan.pushed is not None:
        from dataclasses import replace

        log = exp.Anonymous(
            this="read_parquet",
            expressions=[
                exp.Literal.string(scan.pushed),
                exp.EQ(this=exp.column("union_by_name"), expression=exp.true()),
            ],
        )
        union = exp.Union(
            this=exp.select("*").from_(source_table(replace(scan, pushed=None))),
            expression=exp.select("*").from_(exp.Table(this=log)),
            distinct=False,
            by_name=True,
        )
        return exp.Subquery(this=union, alias=exp.TableAlias(this=ident("src")))
    if scan.kind == "sql":
        from sqlglot import parse_one

        return exp.Subquery(
            this=parse_one(scan.location, read=scan.query_dialect), alias=exp.TableAlias(this=ident("src"))
        )
    reader = "read_csv" if scan.file_format == "csv" else "read_parquet"
    args: list[exp.Expr] = [exp.Literal.string(scan.location)]
    if scan.hive_partitioning:
        args.append(exp.EQ(this=exp.column("hive_partitioning"), expression=exp.true()))
    return exp.Table(this=exp.Anonymous(this=reader, expressions=args))


def scan_select(scan: SourceScan, features: list[str], *, exact: bool = False) -> exp.Select:
    """``keys, ts AS __ts, created AS __created, features`` from the source, filtered and bounded.

    ``__ts`` and ``__created`` are naive UTC microseconds (nanoseconds truncated). The bounds are
    exact at the column's precision, on the raw column. With ``exact``, a nanosecond scan also
    projects each time rounded up (``__ts_up``, ``__created_up``) and in nanoseconds (``__ts_ns``,
    ``__created_ns``): the renderers then compare and order at full precision (``time_names``,
    ``featurestore/sql/timestamps.py``).
    """
    ts_raw, ts_type = col(scan.timestamp_field), scan.timestamp_type
    projections: list[exp.Expr] = [col(k) for k in scan.key_columns]
    projections.append(exp.alias_(as_micros(ts_raw, ts_type), TS, quoted=True))
    created_raw = col(scan.created_field) if scan.created_field else None
    created: exp.Expr = exp.null() if created_raw is None else as_micros(created_raw, scan.created_type)
    projections.append(exp.alias_(exp.cast(created, "TIMESTAMP"), CREATED, quoted=True))
    if exact and exact_times(scan):
        projections.append(exp.alias_(micros_up(ts_raw.copy(), ts_type), TS_UP, quoted=True))
        projections.append(exp.alias_(order_key(ts_raw.copy(), ts_type), TS_NS, quoted=True))
        if created_raw is not None:
            up = micros_up(created_raw.copy(), scan.created_type)
            projections.append(exp.alias_(up, CREATED_UP, quoted=True))
            order = order_key(created_raw.copy(), scan.created_type)
            projections.append(exp.alias_(order, CREATED_NS, quoted=True))
        else:
            projections.append(exp.alias_(exp.cast(exp.null(), "TIMESTAMP"), CREATED_UP, quoted=True))
            projections.append(exp.alias_(exp.cast(exp.null(), "BIGINT"), CREATED_NS, quoted=True))
    projections.extend(col(f) for f in features)
    conditions: list[exp.Expr] = [
        exp.Not(this=exp.Is(this=c, expression=exp.null()))
        for c in [*[col(k) for k in scan.key_columns], ts_raw]
    ]
    if scan.lower is not None:
        conditions.append(bound(ts_raw.copy(), ts_type, ">=", scan.lower))
    if scan.upper is not None:
        conditions.append(bound(ts_raw.copy(), ts_type, upper_op(scan), scan.upper))
    return exp.select(*projections).from_(source_table(scan)).where(exp.and_(*conditions))


class TimeNames(NamedTuple):
    """The columns of an exact scan (``scan_select(..., exact=True)``) that its rows' times are
    compared and ordered on."""

    ts_up: str  # event time for ``ts <= t`` and ``ts > m`` (t, m whole microseconds)
    ts_order: str  # event time for ordering rows
    created_up: str  # created time for ``created <= t``
    created_order: str  # created time for ordering rows (null: no created time)


def time_names(scan: SourceScan) -> TimeNames:
    """The columns a scan's point-in-time and window logic reads. All ``__ts``/``__created`` unless
    nanoseconds: a microsecond time is its own rounding, and orders exactly.

    Tests of ``ts >= m`` take ``__ts`` itself (rounded down), also exact."""
    if exact_times(scan):
        return TimeNames(TS_UP, TS_NS, CREATED_UP, CREATED_NS)
    return TimeNames(TS, TS, CREATED, CREATED)


def asof_time(scan: SourceScan) -> str:
    """The event time a row is placed at to be compared with a whole-microsecond ``t``: rounded up
    for ``ts <= t``; rounded down (``__ts``) for ``ts < t`` when the view excludes events at ``t``."""
    return TS if scan.exclude_current_time else time_names(scan).ts_up


def not_after(scan: SourceScan, ts_table: str, t: exp.Expr) -> exp.Expr:
    """The event time of a row of an exact scan (aliased ``ts_table``) is a candidate at ``t``:
    ``ts <= t``, or ``ts < t`` when the view excludes events at ``t``."""
    if scan.exclude_current_time:
        return exp.LT(this=col(TS, ts_table), expression=t)
    return exp.LTE(this=col(time_names(scan).ts_up, ts_table), expression=t)


def tie_order(scan: SourceScan, tie_break: tuple[str, ...], table: str | None = None) -> list[exp.Ordered]:
    """Newest first: greatest ts, then greatest created (null lowest), then greatest feature values
    (nulls lowest)."""
    _, ts_order, _, created_order = time_names(scan)
    names = [ts_order, created_order, *tie_break]
    return [exp.Ordered(this=col(n, table), desc=True, nulls_first=False) for n in names]


def deduped(
    scan: SourceScan, keys: tuple[str, ...], features: list[str], tie_break: tuple[str, ...]
) -> exp.Select:
    """One row per (keys, ts): the greatest created time, then the tie rule. ASOF picks arbitrarily
    among equal timestamps, so ties must be gone before the join.

    Each key's rows are ordered by time, and within one time newest first (``tie_order``); a row is
    kept when the row before it has another time. A window partitioned by the keys alone costs less
    than one partitioned by (keys, ts), whose groups are mostly single rows.

    Nanosecond sources are grouped by their time rounded up to the microsecond (the ASOF key):
    the latest row of each group, by nanoseconds, is the only one an entity row can choose; rounded
    down instead when the view excludes events at ``t`` (``asof_time``).

    >>> from featurestore.plan.nodes import SourceScan
    >>> scan = SourceScan("v", "file", "/v.parquet", "parquet", False, "ts", "timestamp[us]", None, ("id",))
    >>> print(deduped(scan, ("id",), ["a"], ("a",)).sql("duckdb").split(" QUALIFY ")[1])
    LAG("__ts") OVER (PARTITION BY "id" ORDER BY "__ts", "__created" DESC, "a" DESC) IS DISTINCT FROM "__ts"
    """
    at = asof_time(scan)
    newest = tie_order(scan, tie_break)
    order = [exp.Ordered(this=col(at)), *(newest if exact_times(scan) else newest[1:])]
    window = exp.Window(
        this=exp.Lag(this=col(at)),
        partition_by=[col(k) for k in keys],
        order=exp.Order(expressions=order),
    )
    rows = scan_select(scan, features, exact=True)
    return rows.qualify(exp.NullSafeNEQ(this=window, expression=col(at)))


def _cast_feature(value: exp.Expr, feature: FeatureColumn) -> exp.Expr:
    if feature.dtype == "timestamp" and is_nanosecond(feature.source_type):
        value = as_micros(value, feature.source_type)  # truncated, as every nanosecond time
    return exp.cast(value, DUCKDB_TYPES[feature.dtype])


def _ttl_ok(join: PointInTimeJoin, v: str) -> exp.Expr | None:
    """``ts >= t - ttl``: on ``__ts`` (rounded down), exact for nanoseconds too."""
    if join.ttl is None:
        return None
    oldest = exp.Sub(this=col(ENTITY_TS, "e"), expression=interval_us(join.ttl))
    return exp.GTE(this=col(TS, v), expression=oldest)


def asof_join(
    join: PointInTimeJoin, left: exp.Select | str, passed: list[str], names: list[str]
) -> exp.Select:
    """The join's features for each row of ``left`` (a query, or a table's name, with ``ROW_ID``,
    ``ENTITY_TS`` and the join's keys; aliased ``e``): one ``ASOF LEFT JOIN``, so exactly one row
    per row of ``left``.

    The columns ``passed`` of ``left`` come through unchanged, then the join's features named
    ``names`` (in ``join.features`` order): the training set chains its views' joins this way,
    each one's result the next one's ``left``, instead of joining the results on the row id."""
    features = list(dict.fromkeys([f.name for f in join.features] + list(join.tie_break)))
    rows = deduped(join.scan, join.keys, features, join.tie_break)
    keep = _ttl_ok(join, "v")
    values = []
    for f, name in zip(join.features, names, strict=True):
        value: exp.Expr = col(f.name, "v")
        if keep is not None:
            value = exp.Case(ifs=[exp.If(this=keep.copy(), true=value)])
        values.append(exp.alias_(_cast_feature(value, f), name, quoted=True))
    on = exp.and_(
        *[exp.EQ(this=col(k, "e"), expression=col(k, "v")) for k in join.keys],
        # ``ts <= t`` (``ts < t`` for a view excluding events at t: rounded down, a strict ASOF)
        (exp.GT if join.scan.exclude_current_time else exp.GTE)(
            this=col(ENTITY_TS, "e"), expression=col(asof_time(join.scan), "v")
        ),
    )
    alias = exp.TableAlias(this=ident("e"))
    source = (
        exp.Table(this=ident(left), alias=alias)
        if isinstance(left, str)
        else exp.Subquery(this=left, alias=alias)
    )
    return (
        exp.select(*[col(c, "e") for c in passed], *values)
        .from_(source)
        .join(
            exp.Subquery(this=rows, alias=exp.TableAlias(this=ident("v"))),
            on=on,
            join_type="ASOF LEFT",
        )
    )


def ranked_join(join: PointInTimeJoin, entity_table: str) -> exp.Select:
    """As-known-at: candidates must also satisfy ``created <= t``; the newest candidate by the
    same order as the dedup is chosen. A range join, since no single ASOF key expresses it."""
    features = list(dict.fromkeys([f.name for f in join.features] + list(join.tie_break)))
    scan = join.scan
    rows = scan_select(scan, features, exact=True)
    created_up = time_names(scan).created_up
    conditions: list[exp.Expr] = [exp.EQ(this=col(k, "e"), expression=col(k, "v")) for k in join.keys]
    conditions.append(not_after(scan, "v", col(ENTITY_TS, "e")))
    if scan.created_field:
        # A null created time is not known to be <= t, so the row is no candidate (as in Feast, whose
        # joins drop such rows). A source without a created column is known from its event time.
        conditions.append(exp.LTE(this=col(created_up, "v"), expression=col(ENTITY_TS, "e")))
    keep = _ttl_ok(join, "v")
    if keep is not None:
        conditions.append(keep)
    window = exp.Window(
        this=exp.RowNumber(),
        partition_by=[col(ROW_ID, "e")],
        order=exp.Order(expressions=tie_order(scan, join.tie_break, "v")),
    )
    values = [exp.alias_(_cast_feature(col(f.name, "v"), f), f.output, quoted=True) for f in join.features]
    return (
        exp.select(col(ROW_ID, "e"), *values)
        .from_(exp.Table(this=ident(entity_table), alias=exp.TableAlias(this=ident("e"))))
        .join(exp.Subquery(this=rows, alias=exp.TableAlias(this=ident("v"))), on=exp.and_(*conditions))
        .qualify(exp.EQ(this=window, expression=exp.Literal.number(1)))
    )


def render_latest(plan: LatestPerKey) -> str:
    """The latest row per entity key as of ``plan.end``: keys, ``__event_ts``, features."""
    features = list(dict.fromkeys([f.name for f in plan.features] + list(plan.tie_break)))
    rows = scan_select(plan.scan, features, exact=True)
    window = exp.Window(
        this=exp.RowNumber(),
        partition_by=[col(k) for k in plan.keys],
        order=exp.Order(expressions=tie_order(plan.scan, plan.tie_break)),
    )
    if plan.changed_since is not None:
        rows = rows.where(_changed_since(plan))
    latest = rows.qualify(exp.EQ(this=window, expression=exp.Literal.number(1)))
    out: list[exp.Expr] = [col(k, "l") for k in plan.keys]
    out.append(exp.alias_(exp.cast(col(TS, "l"), "TIMESTAMPTZ"), "__event_ts", quoted=True))
    out.extend(exp.alias_(_cast_feature(col(f.name, "l"), f), f.output, quoted=True) for f in plan.features)
    query = exp.select(*out).from_(exp.Subquery(this=latest, alias=exp.TableAlias(this=ident("l"))))
    return query.sql(dialect=DIALECT, pretty=True)


def _changed_since(plan: LatestPerKey) -> exp.Expr:
    """Rows with event time after the event mark (or at it, for a view excluding events at a run's
    end: the run that ended there left them out), or created after the created mark (exactly, at the
    columns' own precision)."""
    if plan.changed_since is None:
        return exp.true()
    event_mark, created_mark = plan.changed_since
    scan = plan.scan
    condition: exp.Expr = bound(col(scan.timestamp_field), scan.timestamp_type, after_op(scan), event_mark)
    if created_mark is not None and scan.created_field:
        late = bound(col(scan.created_field), scan.created_type, ">", created_mark)
        condition = exp.Paren(this=exp.Or(this=condition, expression=late))
    return condition


def render_latest_stats(plan: LatestPerKey) -> str:
    """Rows the run considers, rows skipped for a null key or event time, and the greatest created."""
    scan = plan.scan
    ts, ts_type = col(scan.timestamp_field), scan.timestamp_type
    nulls = exp.or_(
        *[exp.Is(this=c, expression=exp.null()) for c in [*[col(k) for k in plan.keys], ts.copy()]]
    )
    in_range: list[exp.Expr] = []
    if scan.lower is not None:
        in_range.append(bound(ts.copy(), ts_type, ">=", scan.lower))
    if scan.upper is not None:
        in_range.append(bound(ts.copy(), ts_type, upper_op(scan), scan.upper))
    if plan.changed_since is not None:
        in_range.append(_changed_since(plan))
    where = exp.or_(exp.Is(this=ts.copy(), expression=exp.null()), exp.and_(*in_range)) if in_range else None
    created: exp.Expr = (
        as_micros(col(scan.created_field), scan.created_type) if scan.created_field else exp.null()
    )
    query = exp.select(
        exp.alias_(exp.Count(this=exp.Star()), "rows_read", quoted=True),
        exp.alias_(exp.Sum(this=exp.cast(nulls, "INTEGER")), "rows_skipped", quoted=True),
        exp.alias_(exp.Max(this=created), "max_created", quoted=True),
    ).from_(source_table(scan))
    if where is not None:
        query = query.where(where)
    return query.sql(dialect=DIALECT)


def render_source_probe(scan: SourceScan) -> str:
    """``SELECT *`` from the scan's source (with its push log): its schema, read without running it."""
    return exp.select("*").from_(source_table(scan)).sql(dialect=DIALECT)


def render_key_sample(scan: SourceScan, sample: int | None) -> str:
    """Distinct non-null ``scan.key_columns``, ordered by a hash of the keys (a stable sample)."""
    return verify_queries.render_key_sample(VERIFY, scan, sample)


def render_offline_event_times(scan: SourceScan, entity_table: str, ttl: timedelta | None) -> str:
    """Per entity row (``ROW_ID`` order), the greatest event time ``TS`` of the scan's rows with its
    keys, ``ts <= t`` and, with a ``ttl``, ``ts >= t - ttl``: the candidates of a point-in-time join."""
    return verify_queries.render_offline_event_times(VERIFY, scan, entity_table, ttl)


VERIFY = verify_queries.VerifyDialect(
    dialect=DIALECT,
    source_table=lambda scan, columns: source_table(scan),  # DuckDB unions the push log by name
    scan_select=scan_select,
    naive=lambda t: t,  # entity times are registered naive UTC
    hash_fn="hash",
)
