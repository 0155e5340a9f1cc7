"""Entity rows for a training set: any accepted input -> one Arrow table, validated up front."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from featurestore.config import format_duration
from featurestore.errors import CallerQueryError, EntityRowsError
from featurestore.registry.model import RegisteredView
from featurestore.retrieve.entity_files import SHOWN, file_format, looks_like_path, read_rows_file

if TYPE_CHECKING:
    import pyarrow as pa

    from featurestore.engines.base import Engine

RESERVED = ("__row_id", "__t")


def to_arrow_table(entity_df: Any, engine: Engine) -> pa.Table:
    """polars / pandas / Arrow / a file path (``entity_files.py``) / a SQL query -> ``pa.Table``."""
    import pyarrow as pa

    if isinstance(entity_df, pa.Table):
        return entity_df
    if isinstance(entity_df, pa.RecordBatch):
        return pa.Table.from_batches([entity_df])
    module = type(entity_df).__module__.split(".")[0]
    if module == "polars":
        return entity_df.to_arrow()
    if module == "pandas":
        return pa.Table.from_pandas(entity_df, preserve_index=False)
    if isinstance(entity_df, Path) or (isinstance(entity_df, str) and looks_like_path(entity_df)):
        return read_rows_file(Path(entity_df.strip() if isinstance(entity_df, str) else entity_df))
    if isinstance(entity_df, str):
        return _query(entity_df, engine)
    raise EntityRowsError(
        f"entity rows of type {type(entity_df).__name__} are not supported: pass a polars or pandas "
        f"DataFrame, a pyarrow Table, the path of a file ({SHOWN}) or a SQL query string"
    )


def _query(sql: str, engine: Engine) -> pa.Table:
    """Entity rows given as SQL: caller input, so one read-only query over its own values (see the
    README's trust model), run where it can reach no file and no network."""
    from featurestore.engines.queries import QueryRefused

    try:
        return engine.query_caller_sql(sql)
    except QueryRefused as exc:
        raise CallerQueryError(
            f"entity rows SQL is refused: {exc}. Entity rows SQL must be one read-only query over its own "
            "values (SELECT, WITH or VALUES; range(...) and unnest(...) included); it may not read files or "
            "tables. To use a file of entity rows, pass its path instead (Parquet, CSV or JSON)."
        ) from None


def entity_file(entity_df: Any, engine: Engine) -> Path | None:
    """The Parquet file ``entity_df`` names when the engine can read it itself (``None``: read the entity
    rows into Arrow with ``to_arrow_table``)."""
    if not engine.capabilities.reads_entity_files:
        return None
    if isinstance(entity_df, str) and looks_like_path(entity_df):
        entity_df = Path(entity_df.strip())
    if isinstance(entity_df, Path) and file_format(entity_df) == "parquet":
        return entity_df
    return None


def validate(
    table: pa.Table | pa.Schema, timestamp_column: str, groups: list[tuple[RegisteredView, list[str]]]
) -> None:
    """Raise a clear error for anything that would make the join wrong, before any work starts."""
    import pyarrow as pa

    schema = table if isinstance(table, pa.Schema) else table.schema
    names = schema.names
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise EntityRowsError(f"entity rows have duplicate columns {dupes}; rename them")
    clash = sorted(set(names) & set(RESERVED))
    if clash:
        raise EntityRowsError(f"entity rows use reserved column names {clash}; rename them")
    if timestamp_column not in names:
        raise EntityRowsError(
            f"entity rows have no timestamp column {timestamp_column!r} (columns: {', '.join(names)}). "
            "Add it, or pass timestamp_column='<your column>'."
        )
    ts_type = schema.field(timestamp_column).type
    if not (pa.types.is_timestamp(ts_type) or pa.types.is_date(ts_type)):
        raise EntityRowsError(
            f"entity rows column {timestamp_column!r} has type {ts_type}, not a timestamp or date. "
            "Convert it first (pandas: pd.to_datetime(df[col], utc=True); "
            "polars: pl.col(col).str.to_datetime())."
        )
    for rv, _ in groups:
        for key in rv.view.join_keys:
            if key not in names:
                raise EntityRowsError(
                    f"entity rows lack join key {key!r} of feature view {rv.name!r}{rv.view.where()} "
                    f"(columns: {', '.join(names)}). Add the column."
                )
            key_type = schema.field(key).type
            want = rv.key_dtype(key)
            ok = (
                pa.types.is_null(key_type)
                or (want == "int64" and pa.types.is_integer(key_type))
                or (
                    want == "string"
                    and (
                        pa.types.is_string(key_type)
                        or pa.types.is_large_string(key_type)
                        or pa.types.is_string_view(key_type)
                    )
                )
            )
            if not ok:
                raise EntityRowsError(
                    f"entity rows column {key!r} has type {key_type}, but feature view {rv.name!r} "
                    f"keys it as {want} ({rv.source_schema.get(key)} in its source). Cast the column."
                )


def check_reach(
    min_ts: datetime | None, timestamp_column: str, groups: list[tuple[RegisteredView, list[str]]]
) -> None:
    """Refuse entity rows so early that a view's look-back (ttl or window) from them falls before the
    first representable time (year 1): such times are placeholders or parsing mistakes, not history."""
    if min_ts is None:
        return
    for rv, _ in groups:
        reach = rv.view.lookback
        if reach is None:
            continue
        try:
            min_ts - reach
        except OverflowError:
            raise EntityRowsError(
                f"entity rows column {timestamp_column!r} holds {min_ts} (UTC), too early for feature "
                f"view {rv.name!r}{rv.view.where()}, which looks back {format_duration(reach)} from each "
                "row's time, to before year 1. Times that early are usually a placeholder or a parsing "
                "mistake: fix or drop those rows."
            ) from None


@dataclass(frozen=True)
class PreparedRows:
    """The entity rows split in two: what the engine joins on, and what the user gets back."""

    keys: pa.Table  # join keys, ``__row_id`` (input order) and ``__t`` (naive UTC, microseconds)
    output: pa.Table  # the input table, its timestamp column as timezone-aware UTC microseconds
    min_ts: datetime | None
    max_ts: datetime | None

    @property
    def row_count(self) -> int:
        rows: int = self.output.num_rows
        return rows

    def register(self, engine: Engine, name: str) -> None:
        """Make the join keys queryable under ``name`` (``engine.unregister(name)`` forgets them)."""
        engine.register(name, self.keys)

    @property
    def output_schema(self) -> pa.Schema:
        return self.output.schema

    def whole(self) -> pa.Table:
        """Every entity row as the output shows it."""
        return self.output

    def slices(self) -> Slices:
        """The output's rows, taken in order a number at a time."""
        return Slices(iter([self.output]))

    def first(self, n: int) -> PreparedRows:
        """The first ``n`` entity rows (row ids 0..n-1 kept) with their own time range."""
        import pyarrow.compute as pc

        keys, output = self.keys.slice(0, n), self.output.slice(0, n)
        t = keys.column("__t")
        if n == 0 or t.null_count == len(t):
            return PreparedRows(keys, output, None, None)
        bounds = pc.min_max(t)
        return PreparedRows(keys, output, bounds["min"].as_py(), bounds["max"].as_py())


class Slices:
    """Consecutive rows of tables read one after another, ``take(n)`` at a time: the entity rows that go
    beside each batch of feature columns, never more of them in memory than a batch or two."""

    def __init__(self, tables: Iterator[pa.Table]) -> None:
        self._tables = tables
        self._held: list[pa.Table] = []
        self._rows = 0

    def take(self, n: int) -> pa.Table:
        """The next ``n`` rows (fewer only when the tables run out)."""
        import pyarrow as pa

        while self._rows < n:
            table = next(self._tables, None)
            if table is None:
                break
            self._held.append(table)
            self._rows += table.num_rows
        if not self._held:  # more feature rows than entity rows: a broken join, never attached
            raise RuntimeError(f"the entity rows ran out: {n} more were asked for")
        held = self._held[0] if len(self._held) == 1 else pa.concat_tables(self._held)
        taken, rest = held.slice(0, n), held.slice(n)
        self._held, self._rows = ([rest] if rest.num_rows else []), rest.num_rows
        return taken


def normalized_time(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """The entity rows' time as timezone-aware UTC microseconds (naive = UTC, a date = midnight UTC,
    nanoseconds truncated toward the past)."""
    import pyarrow as pa

    if pa.types.is_timestamp(column.type) and column.type.unit == "us":
        # Arrow stores every zoned time as UTC: the same numbers under the UTC type, zero-copy and
        # without pyarrow.compute (a first import of 30-50 ms).
        return _viewed(column, pa.timestamp("us", tz="UTC"))
    import pyarrow.compute as pc

    if pa.types.is_date(column.type):
        column = pc.cast(pc.cast(column, pa.date32()), pa.timestamp("s"))
    elif column.type.unit == "ns":
        # A cast truncates toward zero, which moves times before 1970 later: floor them first, in
        # UTC (the same instants; flooring in a local zone would trip over DST folds).
        utc = pa.timestamp("ns", tz="UTC") if column.type.tz else column.type
        column = pc.floor_temporal(pc.cast(column, utc), unit="microsecond")
    return pc.cast(column, pa.timestamp("us", tz="UTC"), safe=False)


def _viewed(column: pa.ChunkedArray | pa.Array, kind: pa.DataType) -> pa.ChunkedArray | pa.Array:
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        return pa.chunked_array([chunk.view(kind) for chunk in column.chunks], type=kind)
    return column.view(kind)


def with_output_time(table: pa.Table, timestamp_column: str) -> pa.Table:
    """``table`` with its time column as the output shows it (``normalized_time``)."""
    import pyarrow as pa

    aware = normalized_time(table.column(timestamp_column))
    index = table.column_names.index(timestamp_column)
    return table.set_column(index, pa.field(timestamp_column, aware.type), aware)


def time_bounds(t: pa.ChunkedArray | pa.Array) -> tuple[datetime | None, datetime | None]:
    """The least and greatest of the rows' times (naive UTC), ``None`` when there is none."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(t) == 0 or t.null_count == len(t):
        return None, None
    # Naive first: a zoned scalar's as_py() imports pandas (a third of a second) to read the zone.
    bounds = pc.min_max(pc.cast(t, pa.timestamp(t.type.unit)))
    return bounds["min"].as_py(), bounds["max"].as_py()


def prepare(table: pa.Table, timestamp_column: str, key_columns: list[str]) -> PreparedRows:
    """Normalize the entity rows' time (``normalized_time``): the normalized time is the row's ``t``,
    and what the output shows."""
    import pyarrow as pa

    output = with_output_time(table, timestamp_column)
    t = _viewed(output.column(timestamp_column), pa.timestamp("us"))
    keys = table.select(key_columns)
    row_id = row_numbers(table.num_rows)
    keys = keys.append_column("__row_id", row_id)
    keys = keys.append_column("__t", t)
    return PreparedRows(keys, output, *time_bounds(t))


def row_numbers(n: int) -> pa.Array:
    """``0 .. n-1`` as int64, computed in Arrow (the positions of n nulls): numpy is not a dependency,
    and converting a Python value (``pa.scalar``, ``pa.array``) would import pandas, a third of a
    second the first time.

    >>> row_numbers(3).to_pylist()
    [0, 1, 2]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.indices_nonzero(pc.is_null(pa.nulls(n))).cast(pa.int64())
