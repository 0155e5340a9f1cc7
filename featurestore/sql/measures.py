"""What validation measures over rows: ``Measure``, one number a check needs (a count, a bound), which
every evaluator computes alike (``sql/check_queries.py`` in the engine, ``validation/arrow.py`` over
Arrow).

    >>> Measure("m0", "nulls", "rate", is_float=True).kind
    'nulls'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MeasureKind = Literal["rows", "newest", "nulls", "outside", "not_allowed", "min", "max"]
EVENT_TS = "__event_ts"  # the rows' event time (online/base.py's EVENT_TS)


@dataclass(frozen=True)
class Measure:
    """One number a check needs from the rows, named ``name`` in the result.

    ``rows``: the row count; ``newest``: the greatest ``__event_ts``; ``nulls``: values of ``column`` that
    are null (or NaN); ``outside``: non-null values below ``low`` or above ``high``; ``not_allowed``:
    non-null values not in ``values``; ``min`` / ``max``: of the non-null values. ``is_float``: the column
    holds floats (NaN is tested). As a filter (offending rows), ``nulls``, ``outside`` and
    ``not_allowed`` select the rows they count.
    """

    name: str
    kind: MeasureKind
    column: str | None = None
    is_float: bool = False
    low: float | None = None
    high: float | None = None
    values: tuple[str | int | bool, ...] = ()
