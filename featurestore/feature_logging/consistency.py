"""Consistency metrics per feature, as Chronon reports them: served values vs the same rows recomputed
offline, each row classified, and for numbers the distribution of the difference.

Each (logged row, feature) is one of:

* **match**: both sides equal, or both without a value (null; NaN on both sides counts as equal);
* **mismatch**: both sides have a value and they differ;
* **missing**: served null (not found, expired, or a null value) while offline has a value;
* **extra**: served a value while offline has none.

For numeric features (integers, floats, decimals) each row where both sides have a finite value gets
its **SMAPE**, ``|a - b| / ((|a| + |b|) / 2)`` (0 when both are 0; so in ``[0, 2]``), summarised as
mean, p50, p90, p99 and max (a percentile is the smallest SMAPE at or above that share of the rows:
numpy's ``inverted_cdf``). ``ConsistencyMetrics.table()`` gives the per-row figures to plot, and
``write_rows`` writes every feature's rows to Parquet or CSV.

    >>> smape(100.0, 110.0), smape(0.0, 0.0), smape(-1.0, 1.0)
    (0.09523809523809523, 0.0, 2.0)
    >>> classify(1.5, 1.5), classify(None, 2), classify(3, None), classify(1, 2), classify(None, None)
    ('match', 'missing', 'extra', 'mismatch', 'match')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy

from featurestore.errors import FeatureStoreError

if TYPE_CHECKING:
    import pyarrow as pa

RowStatus = Literal["match", "mismatch", "missing", "extra"]
MAX_EXAMPLES = 3
FORMATS = (".parquet", ".csv")
"""The extensions ``write_rows`` writes."""


@dataclass(frozen=True)
class SmapeSummary:
    """The SMAPE of the ``rows`` where both sides have a number: mean, percentiles and max."""

    rows: int
    mean: float
    p50: float
    p90: float
    p99: float
    max: float

    @staticmethod
    def of(values: list[float]) -> SmapeSummary | None:
        """The summary of some SMAPE figures (None for none).

        >>> SmapeSummary.of([0.0, 0.0, 0.0, 0.5])
        SmapeSummary(rows=4, mean=0.125, p50=0.0, p90=0.5, p99=0.5, max=0.5)
        """
        if not values:
            return None
        array = numpy.array(values, dtype=numpy.float64)
        p50, p90, p99 = (float(v) for v in numpy.quantile(array, [0.5, 0.9, 0.99], method="inverted_cdf"))
        return SmapeSummary(len(values), float(array.mean()), p50, p90, p99, float(array.max()))

    def to_json(self) -> dict[str, float | int]:
        return {"rows": self.rows, "mean": self.mean, "p50": self.p50, "p90": self.p90, "p99": self.p99,
                "max": self.max}  # fmt: skip


@dataclass
class ConsistencyMetrics:
    """Served vs offline values of one feature of one feature service, over the logged rows.

    ``rows`` = ``matches + mismatches + missing + extra``; the rates are shares of ``rows``;
    ``smape`` is set for numeric features with some row where both sides have a number;
    ``examples``: the first few rows that are not a match.
    """

    service: str
    feature: str
    numeric: bool
    rows: int = 0
    matches: int = 0
    mismatches: int = 0
    missing: int = 0
    extra: int = 0
    smape: SmapeSummary | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    _table: pa.Table | None = field(default=None, repr=False, compare=False)

    @property
    def mismatch_rate(self) -> float:
        return self.mismatches / self.rows if self.rows else 0.0

    @property
    def missing_rate(self) -> float:
        return self.missing / self.rows if self.rows else 0.0

    @property
    def extra_rate(self) -> float:
        return self.extra / self.rows if self.rows else 0.0

    @property
    def failures(self) -> int:
        """Rows where served and offline disagree (mismatch, missing or extra): 0 expected."""
        return self.mismatches + self.missing + self.extra

    def table(self) -> pa.Table:
        """One row per logged row: the service, the feature, the join keys, ``request_ts``, the served
        and offline values as text (``served``, ``offline``) and, for numeric features, as numbers
        (``served_number``, ``offline_number``), the ``status`` and the ``smape``."""
        if self._table is None:
            raise FeatureStoreError(
                f"the consistency metrics of {self.feature!r} keep no rows; measure them with verify_log"
            )
        return self._table

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "feature": self.feature,
            "rows": self.rows,
            "matches": self.matches,
            "mismatches": self.mismatches,
            "missing": self.missing,
            "extra": self.extra,
            "mismatch_rate": self.mismatch_rate,
            "missing_rate": self.missing_rate,
            "extra_rate": self.extra_rate,
            "smape": None if self.smape is None else self.smape.to_json(),
            "examples": self.examples,
        }


def classify(served: Any, offline: Any) -> RowStatus:
    """The class of one row: see the module's docstring."""
    if served is None or offline is None:
        return "match" if served is offline else "missing" if served is None else "extra"
    if served == offline or (_is_nan(served) and _is_nan(offline)):
        return "match"
    return "mismatch"


def smape(served: float, offline: float) -> float:
    """The symmetric absolute percentage error of one pair, in [0, 2]; 0 when both are 0."""
    scale = (abs(served) + abs(offline)) / 2
    return 0.0 if scale == 0 else abs(served - offline) / scale


def measure(
    service: str, feature: str, where: pa.Table, served: pa.ChunkedArray, offline: pa.ChunkedArray
) -> ConsistencyMetrics:
    """The metrics of one feature: ``where`` holds the rows' join keys and ``request_ts``, ``served``
    and ``offline`` the feature's values in the same order."""
    import pyarrow as pa

    numeric = _is_numeric(served.type)
    metrics = ConsistencyMetrics(service=service, feature=feature, numeric=numeric, rows=len(served))
    statuses: list[str] = []
    smapes: list[float | None] = []
    served_numbers: list[float | None] = []
    offline_numbers: list[float | None] = []
    for i, (a, b) in enumerate(zip(served.to_pylist(), offline.to_pylist(), strict=True)):
        status = classify(a, b)
        statuses.append(status)
        x, y = (_number(a), _number(b)) if numeric else (None, None)
        served_numbers.append(x)
        offline_numbers.append(y)
        smapes.append(None if x is None or y is None else smape(x, y))
        if status != "match" and len(metrics.examples) < MAX_EXAMPLES:
            row = where.slice(i, 1).to_pylist()[0]
            at = row.pop("request_ts")
            metrics.examples.append({"status": status, "key": row, "at": str(at), "served": a, "offline": b})
    metrics.matches, metrics.mismatches, metrics.missing, metrics.extra = (
        statuses.count(kind) for kind in ("match", "mismatch", "missing", "extra")
    )
    metrics.smape = SmapeSummary.of([s for s in smapes if s is not None]) if numeric else None
    n = len(statuses)
    columns = {
        "service": pa.array([service] * n, pa.string()),
        "feature": pa.array([feature] * n, pa.string()),
        **{name: where.column(name) for name in where.column_names},
        "served": _text(served),
        "offline": _text(offline),
        "served_number": pa.array(served_numbers, pa.float64()),
        "offline_number": pa.array(offline_numbers, pa.float64()),
        "status": pa.array(statuses, pa.string()),
        "smape": pa.array(smapes, pa.float64()),
    }
    metrics._table = pa.table(columns)
    return metrics


def rows_table(metrics: list[ConsistencyMetrics]) -> pa.Table:
    """Every feature's per-row table, one after the other (join keys of other services null)."""
    import pyarrow as pa

    tables = [m.table() for m in metrics]
    if not tables:
        raise FeatureStoreError("no consistency metrics to write: the feature log held no feature")
    return pa.concat_tables(tables, promote_options="permissive")


def write_rows(metrics: list[ConsistencyMetrics], path: str | Path) -> Path:
    """Write ``rows_table(metrics)`` to ``path`` (``.parquet`` or ``.csv``, replaced atomically)."""
    import pyarrow as pa
    import pyarrow.csv
    import pyarrow.parquet as pq

    from featurestore.storage.local import replace_file

    target = Path(path)
    check_format(target)
    table = rows_table(metrics)
    sink = pa.BufferOutputStream()
    if target.suffix.lower() == ".csv":
        pyarrow.csv.write_csv(table, sink)
    else:
        pq.write_table(table, sink)
    try:
        replace_file(target, sink.getvalue().to_pybytes())
    except OSError as error:
        raise FeatureStoreError(
            f"cannot write the consistency metrics to {str(target)!r}: {error}"
        ) from error
    return target


def check_format(path: Path) -> None:
    """Refuse a metrics file whose extension ``write_rows`` does not write (before any work is done)."""
    if path.suffix.lower() not in FORMATS:
        raise FeatureStoreError(
            f"cannot write consistency metrics to {str(path)!r}: name a .parquet or .csv file"
        )


def _is_numeric(arrow_type: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(
        pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type)
    )


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _number(value: Any) -> float | None:
    """A finite number as a float; None for a null, NaN or an infinity."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(values: pa.ChunkedArray) -> pa.Array:
    """Values as text for the per-row table: strings as they are, others as Python prints them."""
    import pyarrow as pa

    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return values.combine_chunks().cast(pa.string())
    return pa.array([None if v is None else str(v) for v in values.to_pylist()], pa.string())
