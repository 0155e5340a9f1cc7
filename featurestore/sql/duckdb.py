"""DuckDB SQL for plans: native ``ASOF LEFT JOIN``, one per view, ties removed before the join."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlglot import exp

from featurestore.dsl.dtypes import DUCKDB_TYPES
from featurestore.plan.nodes import LatestPerKey, PointInTimeJoin, SourceScan, TrainingSetPlan
from featurestore.plan.window import WindowAggregate

DIALECT = "duckdb"
ROW_ID = "__row_id"
ENTITY_TS = "__t"
TS = "__ts"
CREATED = "__created"


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.Column(this=ident(name), table=ident(table) if table else None)


def ts_literal(value: datetime, column_type: str) -> exp.Expr:
    """A timestamp constant typed like the column it is compared with (keeps scan pushdown)."""
    text = value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if "TIME ZONE" in column_type.upper() or column_type.upper() == "TIMESTAMPTZ":
        return exp.cast(exp.Literal.string(text + "+00"), "TIMESTAMPTZ")
    if column_type.upper() == "DATE":
        return exp.cast(exp.cast(exp.Literal.string(text), "TIMESTAMP"), "DATE")
    return exp.cast(exp.Literal.string(text), "TIMESTAMP")


def interval_us(delta: timedelta) -> exp.Interval:
    micros = delta // timedelta(microseconds=1)
    return exp.Interval(this=exp.Literal.string(str(micros)), unit=exp.Var(this="MICROSECOND"))


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
            this=parse_one(scan.location, read=DIALECT), alias=exp.TableAlias(this=ident("src"))
        )
    reader = "read_csv" if scan.file_format == "csv" else "read_parquet"
    args: list[exp.Expr] = [exp.Literal.string(scan.location)]
    if scan.hive_partitioning:
        args.append(exp.EQ(this=exp.column("hive_partitioning"), expression=exp.true()))
    return exp.Table(this=exp.Anonymous(this=reader, expressions=args))


def as_micros(column: exp.Expr, column_type: str) -> exp.Expr:
    """A source time column as naive UTC microseconds. Nanoseconds are truncated (as the entity
    rows' are), not rounded as a plain cast would; zoned values convert via the UTC session zone."""
    if column_type.upper() == "TIMESTAMP_NS":
        nanos = exp.Anonymous(this="epoch_ns", expressions=[column])
        micros = exp.IntDiv(this=nanos, expression=exp.Literal.number(1000))
        return exp.Anonymous(this="make_timestamp", expressions=[micros])
    return exp.cast(column, "TIMESTAMP")


def time_column(scan: SourceScan) -> tuple[exp.Expr, str]:
    """The expression to bound a scan's event time with, and the type its literals must have.

    The raw column keeps Parquet pushdown; a nanosecond column is bounded after truncation so a row
    at ``t + 0.5µs`` (which is ``t`` in microseconds) is not lost.
    """
    if scan.timestamp_type.upper() == "TIMESTAMP_NS":
        return as_micros(col(scan.timestamp_field), scan.timestamp_type), "TIMESTAMP"
    return col(scan.timestamp_field), scan.timestamp_type


def scan_select(scan: SourceScan, features: list[str]) -> exp.Select:
    """``keys, ts AS __ts, created AS __created, features`` from the source, filtered and bounded."""
    ts_col, bound_type = time_column(scan)
    projections: list[exp.Expr] = [col(k) for k in scan.key_columns]
    projections.append(exp.alias_(as_micros(col(scan.timestamp_field), scan.timestamp_type), TS, quoted=True))
    created: exp.Expr = (
        as_micros(col(scan.created_field), scan.created_type) if scan.created_field else exp.null()
    )
    projections.append(exp.alias_(exp.cast(created, "TIMESTAMP"), CREATED, quoted=True))
    projections.extend(col(f) for f in features)
    conditions: list[exp.Expr] = [
        exp.Not(this=exp.Is(this=c, expression=exp.null()))
        for c in [*[col(k) for k in scan.key_columns], ts_col.copy()]
    ]
    if scan.lower is not None:
        conditions.append(exp.GTE(this=ts_col.copy(), expression=ts_literal(scan.lower, bound_type)))
    if scan.upper is not None:
        conditions.append(exp.LTE(this=ts_col.copy(), expression=ts_literal(scan.upper, bound_type)))
    return exp.select(*projections).from_(source_table(scan)).where(exp.and_(*conditions))


def tie_order(tie_break: tuple[str, ...], table: str | None = None) -> list[exp.Ordered]:
    """Newest first: greatest ts, then greatest created, then greatest feature values (nulls lowest)."""
    names = [TS, CREATED, *tie_break]
    return [exp.Ordered(this=col(n, table), desc=True, nulls_first=False) for n in names]


def deduped(
    scan: SourceScan, keys: tuple[str, ...], features: list[str], tie_break: tuple[str, ...]
) -> exp.Select:
    """One row per (keys, ts): the greatest created time, then the tie rule. ASOF picks arbitrarily
    among equal timestamps, so ties must be gone before the join."""
    window = exp.Window(
        this=exp.RowNumber(),
        partition_by=[col(k) for k in keys] + [col(TS)],
        order=exp.Order(expressions=tie_order(tie_break)[1:]),
    )
    return scan_select(scan, features).qualify(exp.EQ(this=window, expression=exp.Literal.number(1)))


def _cast_feature(value: exp.Expr, dtype: str) -> exp.Expr:
    return exp.cast(value, DUCKDB_TYPES[dtype])


def _ttl_ok(join: PointInTimeJoin, v: str) -> exp.Expr | None:
    if join.ttl is None:
        return None
    bound = exp.Sub(this=col(ENTITY_TS, "e"), expression=interval_us(join.ttl))
    return exp.GTE(this=col(TS, v), expression=bound)


def _asof_join(join: PointInTimeJoin, entity_table: str) -> exp.Select:
    features = list(dict.fromkeys([f.name for f in join.features] + list(join.tie_break)))
    rows = deduped(join.scan, join.keys, features, join.tie_break)
    keep = _ttl_ok(join, "v")
    values = []
    for f in join.features:
        value: exp.Expr = col(f.name, "v")
        if keep is not None:
            value = exp.Case(ifs=[exp.If(this=keep.copy(), true=value)])
        values.append(exp.alias_(_cast_feature(value, f.dtype), f.output, quoted=True))
    on = exp.and_(
        *[exp.EQ(this=col(k, "e"), expression=col(k, "v")) for k in join.keys],
        exp.GTE(this=col(ENTITY_TS, "e"), expression=col(TS, "v")),
    )
    entity = exp.select(col(ROW_ID), col(ENTITY_TS), *[col(k) for k in join.keys]).from_(
        exp.Table(this=ident(entity_table))
    )
    return (
        exp.select(col(ROW_ID, "e"), *values)
        .from_(exp.Subquery(this=entity, alias=exp.TableAlias(this=ident("e"))))
        .join(
            exp.Subquery(this=rows, alias=exp.TableAlias(this=ident("v"))),
            on=on,
            join_type="ASOF LEFT",
        )
    )


def _ranked_join(join: PointInTimeJoin, entity_table: str) -> exp.Select:
    """As-known-at: candidates must also satisfy ``created <= t``; the newest candidate by the
    same order as the dedup is chosen. A range join, since no single ASOF key expresses it."""
    features = list(dict.fromkeys([f.name for f in join.features] + list(join.tie_break)))
    rows = scan_select(join.scan, features)
    conditions: list[exp.Expr] = [exp.EQ(this=col(k, "e"), expression=col(k, "v")) for k in join.keys]
    conditions.append(exp.LTE(this=col(TS, "v"), expression=col(ENTITY_TS, "e")))
    # Without a created column a row is known from its event time on.
    known = exp.Coalesce(this=col(CREATED, "v"), expressions=[col(TS, "v")])
    conditions.append(exp.LTE(this=known, expression=col(ENTITY_TS, "e")))
    keep = _ttl_ok(join, "v")
    if keep is not None:
        conditions.append(keep)
    window = exp.Window(
        this=exp.RowNumber(),
        partition_by=[col(ROW_ID, "e")],
        order=exp.Order(expressions=tie_order(join.tie_break, "v")),
    )
    values = [
        exp.alias_(_cast_feature(col(f.name, "v"), f.dtype), f.output, quoted=True) for f in join.features
    ]
    return (
        exp.select(col(ROW_ID, "e"), *values)
        .from_(exp.Table(this=ident(entity_table), alias=exp.TableAlias(this=ident("e"))))
        .join(exp.Subquery(this=rows, alias=exp.TableAlias(this=ident("v"))), on=exp.and_(*conditions))
        .qualify(exp.EQ(this=window, expression=exp.Literal.number(1)))
    )


def _join_body(join: PointInTimeJoin | WindowAggregate, entity_table: str) -> exp.Select:
    """One view's feature columns with ``__row_id``, one row per entity row."""
    if isinstance(join, WindowAggregate):  # windowed aggregations: sql/window.py
        from featurestore.sql.window import render_window_aggregate

        return render_window_aggregate(join, entity_table)
    return _ranked_join(join, entity_table) if join.as_known_at else _asof_join(join, entity_table)


def render_training_set(plan: TrainingSetPlan) -> str:
    """The feature columns of a training set, one row per entity row, in input order.

    The input columns are not carried through the joins: the caller attaches these feature columns
    to the entity rows' own Arrow table, so every input column comes back exactly as given.
    """
    entity = plan.entity
    if len(plan.joins) == 1 and not plan.joins[0].as_known_at:
        # One ASOF LEFT JOIN already yields exactly one row per entity row: no join back needed.
        join = plan.joins[0]
        body = _join_body(join, entity.table)
        query = exp.select(*[col(f.output, "j0") for f in join.features]).from_(exp.Table(this=ident("j0")))
        return (
            query.with_(ident("j0"), as_=body).order_by(col(ROW_ID, "j0")).sql(dialect=DIALECT, pretty=True)
        )
    query = exp.select().from_(exp.Table(this=ident(entity.table), alias=exp.TableAlias(this=ident("e"))))
    ctes = []
    owner = {f.output: f"j{i}" for i, join in enumerate(plan.joins) for f in join.features}
    order = plan.column_order or tuple(owner)
    query = query.select(*[col(name, owner[name]) for name in order])
    for i, join in enumerate(plan.joins):
        alias = f"j{i}"
        ctes.append((alias, _join_body(join, entity.table)))
        query = query.join(
            exp.Table(this=ident(alias)),
            on=exp.EQ(this=col(ROW_ID, alias), expression=col(ROW_ID, "e")),
            join_type="LEFT",
        )
    for alias, body in ctes:
        query = query.with_(ident(alias), as_=body)
    query = query.order_by(col(ROW_ID, "e"))
    return query.sql(dialect=DIALECT, pretty=True)


def render_latest(plan: LatestPerKey) -> str:
    """The latest row per entity key as of ``plan.end``: keys, ``__event_ts``, features."""
    features = list(dict.fromkeys([f.name for f in plan.features] + list(plan.tie_break)))
    rows = scan_select(plan.scan, features)
    window = exp.Window(
        this=exp.RowNumber(),
        partition_by=[col(k) for k in plan.keys],
        order=exp.Order(expressions=tie_order(plan.tie_break)),
    )
    if plan.changed_since is not None:
        rows = rows.where(_changed_since(plan))
    latest = rows.qualify(exp.EQ(this=window, expression=exp.Literal.number(1)))
    out: list[exp.Expr] = [col(k, "l") for k in plan.keys]
    out.append(exp.alias_(exp.cast(col(TS, "l"), "TIMESTAMPTZ"), "__event_ts", quoted=True))
    out.extend(
        exp.alias_(_cast_feature(col(f.name, "l"), f.dtype), f.output, quoted=True) for f in plan.features
    )
    query = exp.select(*out).from_(exp.Subquery(this=latest, alias=exp.TableAlias(this=ident("l"))))
    return query.sql(dialect=DIALECT, pretty=True)


def _changed_since(plan: LatestPerKey) -> exp.Expr:
    assert plan.changed_since is not None  # checked by the caller
    event_mark, created_mark = plan.changed_since
    ts = as_micros(col(plan.scan.timestamp_field), plan.scan.timestamp_type)
    condition: exp.Expr = exp.GT(this=ts, expression=ts_literal(event_mark, "TIMESTAMP"))
    if created_mark is not None and plan.scan.created_field:
        created = as_micros(col(plan.scan.created_field), plan.scan.created_type)
        late = exp.GT(this=created, expression=ts_literal(created_mark, "TIMESTAMP"))
        condition = exp.Paren(this=exp.Or(this=condition, expression=late))
    return condition


def render_latest_stats(plan: LatestPerKey) -> str:
    """Rows the run considers, rows skipped for a null key or event time, and the greatest created."""
    scan = plan.scan
    ts, bound_type = time_column(scan)
    nulls = exp.or_(
        *[exp.Is(this=c, expression=exp.null()) for c in [*[col(k) for k in plan.keys], ts.copy()]]
    )
    in_range: list[exp.Expr] = []
    if scan.lower is not None:
        in_range.append(exp.GTE(this=ts.copy(), expression=ts_literal(scan.lower, bound_type)))
    if scan.upper is not None:
        in_range.append(exp.LTE(this=ts.copy(), expression=ts_literal(scan.upper, bound_type)))
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
