"""Spark SQL for plans. Spark has no as-of join, so the point-in-time join is lowered to a sweep.

For one view, the entity rows and the view's feature rows become one union, ordered per join key by
the time a row becomes eligible (its event time; with ``as_known_at`` the later of event and created
time), feature rows before entity rows at equal times. Each entity row carries the greatest
``struct(ts, created, tie-break values...)`` seen so far in its key:
``max(...) OVER (PARTITION BY keys ORDER BY at, side ROWS UNBOUNDED PRECEDING)``. Spark orders
structs field by field with nulls lowest, so that maximum is exactly rule 2's choice (greatest time,
then greatest created, then greatest feature values in declared order). The ttl is a filter on the
carried event time. One sort per view, linear in the rows: never a range join and ``row_number``.

Sources are read with Spark's own readers (``parquet.`path` ``, ``csv.`path` WITH (...)``); a SQL
source is Spark SQL, used as a subquery. Refused at render time (``SourceError`` naming the view):
nanosecond time columns (Spark holds microseconds). Windowed aggregations: ``spark_window.py``.

A view with ``exclude_current_time`` places each feature row 1µs after its event time in the sweep
(``ts < t`` iff ``ts + 1µs <= t`` in microseconds), so a row at ``t`` comes after the entity rows at ``t``;
scans and marks compare half-open (``before_end``, ``after_mark``).

    >>> from featurestore.plan.nodes import SourceScan
    >>> scan = SourceScan(view="v", kind="file", location="/d/**/*.parquet", file_format="parquet",
    ...                   hive_partitioning=True, timestamp_field="ts", timestamp_type="TIMESTAMP",
    ...                   created_field=None, key_columns=("k",))
    >>> source_table(scan).sql(dialect=SparkDialect)
    "parquet.`/d` WITH ('pathGlobFilter' = '*.parquet')"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.tokenizer_core import TokenType

from featurestore.dsl.dtypes import is_date, is_nanosecond
from featurestore.errors import FeatureStoreError, SourceError
from featurestore.plan.nodes import FeatureColumn, LatestPerKey, PointInTimeJoin, SourceScan, TrainingSetPlan
from featurestore.plan.window import WindowAggregate
from featurestore.sql.trees import CREATED as CREATED
from featurestore.sql.trees import col as col
from featurestore.sql.trees import ident as ident
from featurestore.sql.trees import interval_us as interval_us

ROW_ID = "__row_id"
ENTITY_TS = "__t"
TS = "__ts"  # event time, naive UTC microseconds (TIMESTAMP_NTZ)
AT = "__at"  # when a row becomes eligible
SIDE = "__side"  # 0: feature row, 1: entity row (after feature rows at equal times)
BEST = "__best"  # the chosen feature row, carried as a struct
ONE_US = timedelta(microseconds=1)

SPARK_TYPES: dict[str, str] = {
    "bool": "BOOLEAN",
    "int32": "INT",
    "int64": "BIGINT",
    "float32": "FLOAT",
    "float64": "DOUBLE",
    "string": "STRING",
    "bytes": "BINARY",
    "timestamp": "TIMESTAMP",  # an instant: Arrow timestamp[us, tz=UTC]
    "date": "DATE",
}


class FileRead(exp.Expression):
    """A file read by one of Spark's readers: ``format.`path` WITH ('option' = 'value', ...)``."""

    arg_types = {"this": True, "format": True, "expressions": False}


def _file_read_sql(generator: Any, node: FileRead) -> str:
    path = node.this.name.replace("`", "``")
    options = ", ".join(generator.sql(o) for o in node.expressions)
    return f"{node.args['format'].name}.`{path}`" + (f" WITH ({options})" if options else "")


class SparkDialect(Spark):
    """Spark SQL, plus file reads with options (which sqlglot does not model): written from ``FileRead``,
    and read (in a SQL source) as table hints, kept on the table.

    >>> from sqlglot import parse_one
    >>> query = "SELECT * FROM csv.`/d/a.csv` WITH ('header' = 'true')"
    >>> parse_one(query, read=SparkDialect).sql(SparkDialect)
    "SELECT * FROM csv.`/d/a.csv` WITH ('header' = 'true')"
    """

    class Parser(Spark.Parser):  # type: ignore[misc,valid-type]
        def _parse_table_hints(self) -> list[exp.Expr] | None:
            # Spark's options clause, ``format.`path` WITH ('key' = 'value', ...)``.
            if self._match_pair(TokenType.WITH, TokenType.L_PAREN):
                options = self._parse_csv(self._parse_assignment)
                self._match_r_paren()
                return [self.expression(exp.WithTableHint(expressions=options))]
            hints: list[exp.Expr] | None = super()._parse_table_hints()
            return hints

    class Generator(Spark.Generator):  # type: ignore[misc,valid-type]
        TABLE_HINTS = True
        TRANSFORMS = {**Spark.Generator.TRANSFORMS, FileRead: _file_read_sql}


def ntz(value: exp.Expr) -> exp.Expr:
    """A time as a naive UTC timestamp (the session zone is UTC): zoned values become UTC wall time,
    a date midnight."""
    return exp.cast(value, exp.DataType.build("TIMESTAMP_NTZ", dialect="spark"))


def ts_literal(value: datetime) -> exp.Expr:
    return ntz(exp.Literal.string(value.strftime("%Y-%m-%d %H:%M:%S.%f")))


def _refuse_nanoseconds(scan: SourceScan, features: tuple[FeatureColumn, ...]) -> None:
    columns = [(scan.timestamp_field, scan.timestamp_type)]
    if scan.created_field:
        columns.append((scan.created_field, scan.created_type))
    columns.extend((f.name, f.source_type) for f in features)
    for name, type_name in columns:
        if type_name and is_nanosecond(type_name):
            raise SourceError(
                f"feature view {scan.view!r}: source column {name!r} holds nanosecond timestamps "
                f"({type_name}), which the Spark engine cannot read exactly (Spark keeps microseconds); "
                "store it as microseconds (timestamp[us]) or use the DuckDB engine"
            )


def _file_read(scan: SourceScan) -> exp.Expr:
    """Spark's reader for a file source. A folder (``dir/**/*.parquet``) is read recursively, or with
    partition discovery when it is hive-partitioned; a glob keeps its base path for discovery."""
    path = scan.location
    options: dict[str, str] = {}
    suffix = f"/**/*.{scan.file_format}"
    if path.endswith(suffix):
        path = path[: -len(suffix)]
        options["pathGlobFilter"] = f"*.{scan.file_format}"
        if not scan.hive_partitioning:
            options["recursiveFileLookup"] = "true"
    elif scan.hive_partitioning and any(c in path for c in "*?[{"):
        head = path[: min(path.index(c) for c in "*?[{" if c in path)]
        options["basePath"] = head.rsplit("/", 1)[0] or "/"
    if scan.file_format == "csv":
        options.update(header="true", inferSchema="true")
    pairs = [exp.EQ(this=exp.Literal.string(k), expression=exp.Literal.string(v)) for k, v in options.items()]
    return exp.Table(this=FileRead(this=exp.Literal.string(path), format=exp.Var(this=scan.file_format),
                                   expressions=pairs))  # fmt: skip


def source_table(scan: SourceScan, columns: list[str] | None = None) -> exp.Expr:
    """The FROM item of a scan: a file read, or the source's query as a subquery; with pushed rows,
    the union of the source and the push log, each reduced to ``columns`` (aligned by name)."""
    if scan.pushed is not None:
        if columns is None:
            raise ValueError("a scan with pushed rows needs its columns to align the union")
        plain = replace(scan, pushed=None)
        log = replace(
            plain, kind="file", location=scan.pushed, file_format="parquet", hive_partitioning=False
        )
        union = exp.union(
            exp.select(*[col(c) for c in columns]).from_(source_table(plain)),
            exp.select(*[col(c) for c in columns]).from_(source_table(log)),
            distinct=False,
        )
        return exp.Subquery(this=union, alias=exp.TableAlias(this=ident("src")))
    if scan.kind == "sql":
        from sqlglot import parse_one

        return exp.Subquery(
            this=parse_one(scan.location, read=SparkDialect), alias=exp.TableAlias(this=ident("src"))
        )
    return _file_read(scan)


def before_end(scan: SourceScan) -> type[exp.Binary]:
    """``<=`` for an event time not past a plan's time; ``<`` when the view excludes events at it."""
    return exp.LT if scan.exclude_current_time else exp.LTE


def after_mark(scan: SourceScan) -> type[exp.Binary]:
    """``>`` for an event time after a run's end or mark; ``>=`` when the view excludes events at a
    run's end (that run left them out)."""
    return exp.GTE if scan.exclude_current_time else exp.GT


def sweep_time(scan: SourceScan, ts: exp.Expr) -> exp.Expr:
    """Where an event stands in a sweep against entity times ``t``: its time, or 1µs later when the
    view excludes events at ``t`` (an event at ``t`` then comes after the entity rows at ``t``)."""
    if scan.exclude_current_time:
        return exp.Add(this=ts, expression=interval_us(ONE_US))
    return ts


def bound(scan: SourceScan, op: type[exp.Binary], value: datetime) -> exp.Expr:
    column: exp.Expr = col(scan.timestamp_field)
    if is_date(scan.timestamp_type):
        column = ntz(column)
    return op(this=column, expression=ts_literal(value))


def scan_select(scan: SourceScan, features: list[str]) -> exp.Select:
    """``keys, ts AS __ts, created AS __created, features`` (times naive UTC), rows with non-null keys
    and event time inside the scan's bounds."""
    raw = list(dict.fromkeys([*scan.key_columns, scan.timestamp_field, *features]))
    if scan.created_field:
        raw.insert(len(scan.key_columns) + 1, scan.created_field)
    raw = list(dict.fromkeys(raw))
    created: exp.Expr = col(scan.created_field) if scan.created_field else exp.null()
    projections: list[exp.Expr] = [col(k) for k in scan.key_columns]
    projections.append(exp.alias_(ntz(col(scan.timestamp_field)), TS, quoted=True))
    projections.append(exp.alias_(ntz(created), CREATED, quoted=True))
    projections.extend(col(f) for f in features)
    conditions: list[exp.Expr] = [
        exp.Not(this=exp.Is(this=col(c), expression=exp.null()))
        for c in [*scan.key_columns, scan.timestamp_field]
    ]
    if scan.lower is not None:
        conditions.append(bound(scan, exp.GTE, scan.lower))
    if scan.upper is not None:
        conditions.append(bound(scan, before_end(scan), scan.upper))
    return exp.select(*projections).from_(source_table(scan, raw)).where(exp.and_(*conditions))


def _struct_fields(features: list[str]) -> dict[str, str]:
    """Feature column -> its field in the carried struct (``c0``, ``c1``, ...: any column name fits)."""
    return {name: f"c{i}" for i, name in enumerate(features)}


def _best_row(features: list[str]) -> exp.Expr:
    """``struct(ts, created, features...)``: compared field by field, nulls lowest, it orders rows by
    rule 2 (``features`` starts with the tie-break columns in declared order)."""
    fields = [exp.PropertyEQ(this=ident(TS), expression=col(TS))]
    fields.append(exp.PropertyEQ(this=ident(CREATED), expression=col(CREATED)))
    fields.extend(
        exp.PropertyEQ(this=ident(field), expression=col(name))
        for name, field in _struct_fields(features).items()
    )
    return exp.Struct(expressions=fields)


def _field(name: str, table: str | None = None) -> exp.Expr:
    return exp.Dot(this=col(BEST, table), expression=ident(name))


def _cast_feature(value: exp.Expr, feature: FeatureColumn) -> exp.Expr:
    return exp.cast(value, exp.DataType.build(SPARK_TYPES[feature.dtype], dialect="spark"))


def _sweep(join: PointInTimeJoin, entity_table: str) -> exp.Select:
    """One view's feature columns with ``__row_id``, one row per entity row (module docstring)."""
    _refuse_nanoseconds(join.scan, join.features)
    features = list(dict.fromkeys([*join.tie_break, *[f.name for f in join.features]]))
    rows = scan_select(join.scan, features)
    at: exp.Expr = sweep_time(join.scan, col(TS))
    if join.as_known_at and join.scan.created_field:
        # A null created time is not known to be <= t: such a row is no candidate.
        rows = rows.where(exp.Not(this=exp.Is(this=col(join.scan.created_field), expression=exp.null())))
        at = exp.Greatest(this=at, expressions=[col(CREATED)])
    keys = [col(k) for k in join.keys]
    best = exp.Case(
        ifs=[exp.If(this=exp.EQ(this=col(SIDE), expression=exp.Literal.number(0)), true=_best_row(features))]
    )
    feature_side = exp.select(
        *keys,
        exp.alias_(at, AT, quoted=True),
        exp.alias_(exp.Literal.number(0), SIDE, quoted=True),
        exp.alias_(exp.cast(exp.null(), "BIGINT"), ROW_ID, quoted=True),
        exp.alias_(exp.null(), ENTITY_TS, quoted=True),
        col(TS),
        col(CREATED),
        *[col(f) for f in features],
    ).from_(exp.Subquery(this=rows, alias=exp.TableAlias(this=ident("v"))))
    entity_side = exp.select(
        *keys,
        exp.alias_(col(ENTITY_TS), AT, quoted=True),
        exp.alias_(exp.Literal.number(1), SIDE, quoted=True),
        col(ROW_ID),
        col(ENTITY_TS),
        exp.alias_(exp.null(), TS, quoted=True),
        exp.alias_(exp.null(), CREATED, quoted=True),
        *[exp.alias_(exp.null(), f, quoted=True) for f in features],
    ).from_(exp.Table(this=ident(entity_table)))
    union = exp.union(entity_side, feature_side, distinct=False)
    window = exp.Window(
        this=exp.Max(this=best),
        partition_by=keys,
        order=exp.Order(expressions=[exp.Ordered(this=col(AT)), exp.Ordered(this=col(SIDE))]),
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"),
    )
    swept = exp.select(col(ROW_ID), col(ENTITY_TS), col(SIDE), exp.alias_(window, BEST, quoted=True)).from_(
        exp.Subquery(this=union, alias=exp.TableAlias(this=ident("u")))
    )
    fields = _struct_fields(features)
    # An entity row without a time has no candidate (its sweep position carries nothing meaningful).
    keep: exp.Expr = exp.Not(this=exp.Is(this=col(ENTITY_TS), expression=exp.null()))
    if join.ttl is not None:
        oldest = exp.Sub(this=col(ENTITY_TS), expression=interval_us(join.ttl))
        keep = exp.and_(keep, exp.GTE(this=_field(TS), expression=oldest))
    values = []
    for f in join.features:
        value: exp.Expr = exp.Case(ifs=[exp.If(this=keep.copy(), true=_field(fields[f.name]))])
        values.append(exp.alias_(_cast_feature(value, f), f.output, quoted=True))
    return (
        exp.select(col(ROW_ID), *values)
        .from_(exp.Subquery(this=swept, alias=exp.TableAlias(this=ident("s"))))
        .where(exp.EQ(this=col(SIDE), expression=exp.Literal.number(1)))
    )


WindowBody = Callable[[WindowAggregate, str], exp.Select]
"""Renders a ``WindowAggregate``'s body (``spark_window.render_window_aggregate``): handed in by
``SparkRenderer``, since that module builds on this one."""


def _join_body(
    join: PointInTimeJoin | WindowAggregate, entity_table: str, window_body: WindowBody | None
) -> exp.Select:
    if isinstance(join, WindowAggregate):
        if window_body is None:
            raise FeatureStoreError(
                f"feature view {join.view!r} declares aggregations: render this training set with "
                "SparkRenderer (renderer_for(engine.capabilities)), which renders windowed aggregations"
            )
        return window_body(join, entity_table)
    return _sweep(join, entity_table)


def render_training_set(plan: TrainingSetPlan, window_body: WindowBody | None = None) -> str:
    """The feature columns of a training set, one row per entity row, in input order (``ORDER BY
    __row_id``); the caller attaches them to the entity rows' own Arrow table.

    Every entity row enters each view's sweep (a null key matches no feature row, whose keys are
    never null), so each view yields exactly one row per entity row; views are joined on the row id.
    """
    entity = plan.entity
    bodies = [(f"j{i}", _join_body(join, entity.table, window_body)) for i, join in enumerate(plan.joins)]
    owner = {
        body.selects[i].alias_or_name: alias for alias, body in bodies for i in range(1, len(body.selects))
    }
    order = plan.column_order or tuple(owner)
    first = bodies[0][0]
    query = exp.select(*[col(name, owner[name]) for name in order]).from_(exp.Table(this=ident(first)))
    for alias, _ in bodies[1:]:
        query = query.join(
            exp.Table(this=ident(alias)), on=exp.EQ(this=col(ROW_ID, alias), expression=col(ROW_ID, first))
        )
    for alias, body in bodies:
        query = query.with_(ident(alias), as_=body)
    return query.order_by(col(ROW_ID, first)).sql(dialect=SparkDialect, pretty=True)


def render_latest(plan: LatestPerKey) -> str:
    """The latest row per entity key as of ``plan.end``: keys, ``__event_ts``, features (one
    aggregate per key: the greatest struct, as in the training-set sweep)."""
    _refuse_nanoseconds(plan.scan, plan.features)
    features = list(dict.fromkeys([*plan.tie_break, *[f.name for f in plan.features]]))
    rows = scan_select(plan.scan, features)
    if plan.changed_since is not None:
        rows = rows.where(changed_since(plan))
    keys = [col(k) for k in plan.keys]
    latest = (
        exp.select(*keys, exp.alias_(exp.Max(this=_best_row(features)), BEST, quoted=True))
        .from_(exp.Subquery(this=rows, alias=exp.TableAlias(this=ident("r"))))
        .group_by(*[k.copy() for k in keys])
    )
    fields = _struct_fields(features)
    out: list[exp.Expr] = [col(k, "l") for k in plan.keys]
    out.append(exp.alias_(exp.cast(_field(TS, "l"), "TIMESTAMP"), "__event_ts", quoted=True))
    out.extend(
        exp.alias_(_cast_feature(_field(fields[f.name], "l"), f), f.output, quoted=True)
        for f in plan.features
    )
    query = exp.select(*out).from_(exp.Subquery(this=latest, alias=exp.TableAlias(this=ident("l"))))
    return query.sql(dialect=SparkDialect, pretty=True)


def changed_since(plan: LatestPerKey) -> exp.Expr:
    """Rows with event time after the event mark, or created after the created mark."""
    if plan.changed_since is None:
        return exp.true()
    event_mark, created_mark = plan.changed_since
    scan = plan.scan
    after = after_mark(scan)  # at the mark too, when that run left out its end's events
    condition: exp.Expr = after(this=ntz(col(scan.timestamp_field)), expression=ts_literal(event_mark))
    if created_mark is not None and scan.created_field:
        late = exp.GT(this=ntz(col(scan.created_field)), expression=ts_literal(created_mark))
        condition = exp.Paren(this=exp.Or(this=condition, expression=late))
    return condition
