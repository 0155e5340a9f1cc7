"""Push: fresh rows of a feature view, written online, offline (the push log), or both, without a batch job.

Rows are checked against the view's schema first (every join key, the source's event-timestamp column and
every feature; the created-timestamp column is optional and defaults to the push time); on a mismatch
nothing is written. The online write is newer-wins like materialization's; the offline write appends one
Parquet file to the view's push log (``plan/pushed.py``), which training sets and materialization read
together with the source, so a pushed value appears in later training sets under the same
point-in-time rules.

    >>> store.push("driver_hourly_stats", [{"driver_id": 1001, "event_timestamp": "2026-11-01T12:00:00Z",
    ...            "conv_rate": 0.5, "acc_rate": 0.9, "avg_daily_trips": 12}], to="both")  # doctest: +SKIP
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from featurestore.config import parse_time
from featurestore.dsl.dtypes import arrow_type, is_date, is_zoned
from featurestore.errors import (
    FeatureStoreError,
    FutureTimeError,
    SchemaMismatchError,
    ValidationError,
    did_you_mean,
)
from featurestore.registry.model import RegisteredView
from featurestore.validation.report import ValidationReport

if TYPE_CHECKING:
    from featurestore.online.base import OnlineStore, OnlineView
    from featurestore.storage import Storage

Target = Literal["online", "offline", "both"]
TARGETS = ("online", "offline", "both")
_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class PushResult:
    """What one push did."""

    rows: int
    online_written: int | None = None
    """Values stored online (not rows older than the stored value, nor expired ones); None: not online."""
    offline_file: str | None = None
    """The push-log file written (a local path or an ``s3://`` URL); None: not offline."""
    validation: ValidationReport | None = None
    """What the view's feature checks found in the rows (warnings only: an error writes nothing and
    raises ``ValidationError``); None: the view's features declare no checks."""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "online_written": self.online_written,
            "offline_file": None if self.offline_file is None else self.offline_file.rsplit("/", 1)[-1],
        }
        if self.validation is not None and self.validation.warnings:
            out["warnings"] = [v.as_dict() for v in self.validation.warnings]
        return out


def push_rows(
    rv: RegisteredView,
    rows: Any,
    *,
    to: str,
    root: Path,
    online: OnlineStore | None,
    targets: Sequence[OnlineView] = (),
    clock_skew: timedelta = timedelta(minutes=5),
    storage: Storage | None = None,
) -> PushResult:
    """Validate ``rows`` against ``rv`` and write them; see the module docstring.

    ``storage``: where the push log lives (default: the repo's, ``storage_for(root)``).

    ``targets``: the online versions to write (the served one, and a pending one being materialized, so
    that neither misses the pushed values). Rows stamped later than now plus ``clock_skew`` are refused.
    """
    if to not in TARGETS:
        raise FeatureStoreError(f"push target must be one of {', '.join(TARGETS)}, not {to!r}")
    view = rv.view
    if view.aggregations:
        raise SchemaMismatchError(
            f"feature view {view.name!r}{view.where()} computes windowed aggregations from raw events; "
            "pushing to it is not supported: append the events to its source instead"
        )
    if to in ("online", "both") and not view.online:
        raise SchemaMismatchError(
            f"feature view {view.name!r}{view.where()} has online=False: push to='offline' instead"
        )
    table = normalize(rv, rows)
    refuse_future(rv, table, clock_skew)
    report = check_pushed(rv, table)
    result = PushResult(rows=table.num_rows, validation=report)
    if to in ("offline", "both"):
        result = PushResult(
            rows=table.num_rows, offline_file=append_push_log(rv, table, root, storage), validation=report
        )
    if to in ("online", "both"):
        from featurestore.online.base import EVENT_TS

        if online is None or not targets:
            raise FeatureStoreError(f"push to {view.name!r} online needs an online store and a version")
        batch = table.select([*view.join_keys, *view.feature_names]).append_column(
            EVENT_TS, table.column(view.source.timestamp_field)
        )
        written = 0
        for i, target in enumerate(targets):
            if not set(target.feature_names) <= set(batch.column_names):
                continue  # an older version with other features: it gets the values when it is replaced
            stored = online.write(target, batch)
            written = stored if i == 0 else written
        result = PushResult(table.num_rows, written, result.offline_file, report)
    return result


def check_pushed(rv: RegisteredView, table: pa.Table) -> ValidationReport | None:
    """The view's feature checks over the pushed rows (its view checks, Freshness and RowCount, are about
    a materialization's batch and do not apply); raises ``ValidationError`` on an error-severity
    violation, before anything is written."""
    from featurestore.validation.arrow import validate_table
    from featurestore.validation.rules import rules_of

    rules = rules_of(rv, view_checks=False)
    if not rules:
        return None
    report = validate_table(
        table, rules, rv.view.join_keys, None, event_column=rv.view.source.timestamp_field
    )
    if not report.ok:
        broken = "; ".join(
            f"{v.rule} on {v.feature}: {v.observed}" + _keys(v.keys_text()) for v in report.errors
        )
        raise ValidationError(
            f"rows pushed to feature view {rv.name!r}{rv.view.where()} break its checks, nothing was "
            f"written: {broken}. Fix the rows, or relax the check in the definitions",
            report,
        )
    return report


def _keys(text: str) -> str:
    return f" (for example {text})" if text else ""


def refuse_future(rv: RegisteredView, table: pa.Table, clock_skew: timedelta) -> None:
    """Rows stamped later than now plus ``clock_skew`` would pin values forever (newer wins): refuse them."""
    limit = datetime.now(UTC) + clock_skew
    source = rv.view.source
    for column in (source.timestamp_field, source.created_timestamp_field):
        if column is None or column not in table.column_names or not table.num_rows:
            continue
        latest = pc.max(table.column(column)).as_py()
        if latest is not None and latest > limit:
            raise FutureTimeError(
                f"rows pushed to feature view {rv.name!r} have {column} {latest.isoformat()}, later than "
                f"now plus the allowed clock skew ({limit.isoformat(timespec='seconds')}); a value stamped "
                "in the future would win over every real one until then. Fix the timestamps (they are "
                "UTC when naive), or raise [materialize] clock_skew if this host's clock is behind"
            )


def normalize(rv: RegisteredView, rows: Any) -> pa.Table:
    """The rows as Arrow in the view's declared types: join keys, the event timestamp (µs, UTC), the
    created timestamp (given, or now), every feature. Raises :class:`SchemaMismatchError` naming the
    column and the fix."""
    view = rv.view
    where = f"rows pushed to feature view {view.name!r}"
    data = _columns(rows, where)
    ts_field = view.source.timestamp_field
    created_field = view.source.created_timestamp_field
    required = [*view.join_keys, ts_field, *view.feature_names]
    allowed = [*required, *([created_field] if created_field else [])]
    unknown = [c for c in data if c not in allowed]
    if unknown:
        raise SchemaMismatchError(
            f"{where} have unknown column {unknown[0]!r}. {did_you_mean(unknown[0], allowed)}"
        )
    missing = [c for c in required if c not in data]
    if missing:
        raise SchemaMismatchError(
            f"{where} lack column(s) {', '.join(missing)}; a push needs every join key, the event "
            f"timestamp {ts_field!r} and every feature ({', '.join(view.feature_names)})"
        )
    n = {len(v) for v in data.values()}
    if len(n) > 1:
        raise SchemaMismatchError(f"{where}: the columns differ in length")
    out: dict[str, pa.Array] = {}
    for key in view.join_keys:
        out[key] = _key(data[key], key, rv.key_dtype(key), where)
    out[ts_field] = _timestamp(data[ts_field], ts_field, where, nullable=False)
    if created_field:
        if created_field in data:
            out[created_field] = _timestamp(data[created_field], created_field, where, nullable=True)
        else:
            now = datetime.now(UTC)
            out[created_field] = pa.array([now] * len(out[ts_field]), _TS)
    for feature in view.features:
        out[feature.name] = _feature(data[feature.name], feature.name, feature.dtype, where)
    return pa.table(out)


def append_push_log(rv: RegisteredView, table: pa.Table, root: Path, storage: Storage | None = None) -> str:
    """Append rows to the view's push log: one Parquet file, written whole or not at all; its URI.

    Time columns are stored with the type the source has (naive or zoned), so the union with the
    source keeps the source's types."""
    from featurestore.plan.pushed import push_log_prefix
    from featurestore.storage import storage_for

    source = rv.view.source
    for name in (source.timestamp_field, source.created_timestamp_field):
        if name is None:
            continue
        kind = rv.source_schema.get(name, "timestamp[us]")  # an Arrow type name
        column = table.column(name)
        if is_date(kind):
            column = pc.cast(pc.cast(column, pa.timestamp("us")), pa.date32())
        elif not is_zoned(kind):
            column = pc.cast(column, pa.timestamp("us"))
        table = table.set_column(table.column_names.index(name), name, column)
    storage = storage or storage_for(root)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    key = f"{push_log_prefix(rv.name)}/{stamp}-{uuid.uuid4().hex[:12]}.parquet"
    storage.write_table(key, table)
    return storage.uri(key)


# -- column checks --------------------------------------------------------------------------------------


def _columns(rows: Any, where: str) -> dict[str, Any]:
    """list of dicts / dict of columns / Arrow / polars / pandas -> {name: list or Arrow array}."""
    if isinstance(rows, pa.Table | pa.RecordBatch):
        return {name: rows.column(name) for name in rows.schema.names}
    module = type(rows).__module__.split(".")[0]
    if module == "polars":
        table = rows.to_arrow()
        return {name: table.column(name) for name in table.column_names}
    if module == "pandas":
        table = pa.Table.from_pandas(rows, preserve_index=False)
        return {name: table.column(name) for name in table.column_names}
    if isinstance(rows, Mapping):
        out = {}
        for name, values in rows.items():
            if not isinstance(values, list | tuple):
                raise SchemaMismatchError(f"{where}: column {name!r} must be a list of values")
            out[str(name)] = list(values)
        return out
    if isinstance(rows, list | tuple):
        names: dict[str, None] = {}
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise SchemaMismatchError(f"{where}: row {i} is a {type(row).__name__}, not a dict")
            names.update(dict.fromkeys(row))
        for i, row in enumerate(rows):
            lacking = [n for n in names if n not in row]
            if lacking:
                raise SchemaMismatchError(f"{where}: row {i} lacks {', '.join(lacking)}")
        return {n: [row[n] for row in rows] for n in names}
    raise SchemaMismatchError(
        f"{where} must be a list of dicts, a dict of columns, or a DataFrame / Arrow table, "
        f"not {type(rows).__name__}"
    )


def _array(values: Any, name: str, where: str) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        raise SchemaMismatchError(f"{where}: column {name!r} holds unusable values: {exc}") from None


def _no_nulls(array: pa.Array, name: str, where: str, role: str) -> None:
    if array.null_count:
        raise SchemaMismatchError(f"{where}: {role} {name!r} has {array.null_count} null value(s)")


def _key(values: Any, name: str, dtype: str, where: str) -> pa.Array:
    array = _array(values, name, where)
    _no_nulls(array, name, where, "join key")
    if dtype == "string":
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            raise SchemaMismatchError(f"{where}: join key {name!r} holds {array.type}, not strings")
        return array.cast(pa.string())
    if not pa.types.is_integer(array.type):
        raise SchemaMismatchError(f"{where}: join key {name!r} holds {array.type}, not integers")
    return _cast(array, pa.int64(), name, where, "int64")


def _timestamp(values: Any, name: str, where: str, *, nullable: bool) -> pa.Array:
    array = _array(values, name, where)
    if not nullable:
        _no_nulls(array, name, where, "timestamp column")
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        array = pa.array([None if v is None else _parse_time(v, name, where) for v in array.to_pylist()], _TS)
    elif pa.types.is_date(array.type):
        array = pc.cast(pc.cast(array, pa.date32()), pa.timestamp("s"))
    elif pa.types.is_null(array.type):
        array = array.cast(_TS)
    if not pa.types.is_timestamp(array.type):
        raise SchemaMismatchError(
            f"{where}: column {name!r} holds {array.type}; give timestamps (ISO 8601 strings such as "
            "'2026-11-01T12:00:00Z', datetimes, or an Arrow timestamp column)"
        )
    return pc.cast(array, _TS, safe=False)  # naive values are UTC: the cast only labels them


def _parse_time(text: str, name: str, where: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError:
        raise SchemaMismatchError(
            f"{where}: column {name!r} has {text!r}, which is not an ISO 8601 timestamp "
            "(for example '2026-11-01T12:00:00Z')"
        ) from None


def _feature(values: Any, name: str, dtype: str, where: str) -> pa.Array:
    if dtype == "timestamp":
        return _timestamp(values, name, where, nullable=True)
    array = _array(values, name, where)
    if dtype == "date" and (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        try:
            return pa.array([None if v is None else date.fromisoformat(v) for v in array.to_pylist()])
        except ValueError as exc:
            raise SchemaMismatchError(f"{where}: feature {name!r}: {exc}") from None
    target = arrow_type(dtype)
    t = array.type
    ok = (
        pa.types.is_null(t)
        or t == target
        or (dtype in ("int32", "int64") and (pa.types.is_integer(t) or pa.types.is_floating(t)))
        or (dtype in ("float32", "float64") and (pa.types.is_integer(t) or pa.types.is_floating(t)))
        or (dtype == "bytes" and (pa.types.is_binary(t) or pa.types.is_string(t)))
        or (dtype == "string" and pa.types.is_large_string(t))
        or (dtype == "date" and (pa.types.is_date(t) or pa.types.is_timestamp(t)))
    )
    if not ok:
        raise SchemaMismatchError(f"{where}: column {name!r} is {t}, the feature is {dtype}")
    if pa.types.is_floating(t) and dtype in ("int32", "int64") and len(array) > array.null_count:
        # integral floats are accepted (JSON clients send 3.0), but only where a float is exact
        biggest = pc.max(pc.abs(array)).as_py()
        if biggest is not None and not biggest < 2.0**53:
            raise SchemaMismatchError(
                f"{where}: feature {name!r} has {biggest}, too large for an exact {dtype}"
            )
    return _cast(array, target, name, where, dtype)


def _cast(array: pa.Array, target: pa.DataType, name: str, where: str, dtype: str) -> pa.Array:
    try:
        return array.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise SchemaMismatchError(f"{where}: column {name!r} does not fit {dtype}: {exc}") from None
