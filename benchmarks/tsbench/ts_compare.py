"""Row-by-row comparison of training sets against the raw DuckDB reference."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ts_spec import OUTPUT_COLUMNS

ROW_ID = "row_id"


@dataclass(frozen=True)
class Comparison:
    """How a result differs from the reference: rows missing or extra, rows whose values differ."""

    rows: int
    missing: int
    extra: int
    differing: int
    note: str = ""

    @property
    def bad_rows(self) -> int:
        return self.missing + self.extra + self.differing

    def summary(self) -> str:
        parts = [f"{self.bad_rows} rows differ"]
        if self.missing or self.extra:
            parts.append(f"({self.missing} missing, {self.extra} extra, {self.differing} with other values)")
        if self.note:
            parts.append(self.note)
        return " ".join(parts)


def _normalise(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Numbers as float64 and times as UTC microseconds, so equal values compare equal across systems."""
    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:
            column = pc.assume_timezone(column, "UTC")
        return column.cast(pa.timestamp("us", tz="UTC"))
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return column.cast(pa.float64())
    return column


def differing_mask(left: pa.Table, right: pa.Table) -> np.ndarray:
    """True where two aligned tables differ in any output column (null equals null)."""
    bad = np.zeros(left.num_rows, dtype=bool)
    for name in OUTPUT_COLUMNS:
        a, b = _normalise(left[name]), _normalise(right[name])
        same_value = pc.fill_null(pc.equal(a, b), False)
        both_null = pc.and_(pc.is_null(a), pc.is_null(b))
        same = pc.or_(same_value, both_null).to_numpy(zero_copy_only=False)
        bad |= ~same
    return bad


def _schema_note(result: pa.Table) -> str:
    names = result.column_names
    if names[: len(OUTPUT_COLUMNS)] != list(OUTPUT_COLUMNS):
        return f"[columns: {names}]"
    return ""


def compare_ordered(result: pa.Table, reference: pa.Table) -> Comparison:
    """Compare a result that must be in input order (ours, raw variants) with the reference."""
    missing_columns = [c for c in OUTPUT_COLUMNS if c not in result.column_names]
    if missing_columns:
        return Comparison(result.num_rows, reference.num_rows, 0, 0, f"[missing columns {missing_columns}]")
    n = min(result.num_rows, reference.num_rows)
    differing = int(differing_mask(result.slice(0, n), reference.slice(0, n)).sum())
    return Comparison(
        rows=result.num_rows,
        missing=reference.num_rows - n,
        extra=result.num_rows - n,
        differing=differing,
        note=_schema_note(result),
    )


def compare_by_row_id(result: pa.Table, reference: pa.Table) -> Comparison:
    """Compare a result in any order that carries the input row number in ``row_id`` (Feast)."""
    row_ids = result[ROW_ID].to_numpy()
    unique_ids, first = np.unique(row_ids, return_index=True)
    in_range = (unique_ids >= 0) & (unique_ids < reference.num_rows)
    unique_ids, first = unique_ids[in_range], first[in_range]
    matched = result.take(pa.array(first)).select(list(OUTPUT_COLUMNS))
    expected = reference.take(pa.array(unique_ids))
    return Comparison(
        rows=result.num_rows,
        missing=reference.num_rows - len(unique_ids),
        extra=result.num_rows - len(unique_ids),
        differing=int(differing_mask(matched, expected).sum()),
    )
