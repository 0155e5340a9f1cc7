"""``FeatureProfile``: the statistics of one feature over some rows, frozen, with a JSON form.

The exact fields (count, nulls, min, max, mean, stddev) are plain numbers; the distributions are
Apache DataSketches sketches kept as their serialized bytes (base64 in JSON), so a profile is
immutable, compares by value and can be merged later: a KLL quantile sketch for numbers, an HLL
distinct-count sketch for every kind, frequent items for strings and booleans. Quantiles, histogram,
distinct count and top values are derived from them.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass
from typing import Any

from datasketches import (  # type: ignore[import-untyped]
    frequent_items_error_type,
    frequent_strings_sketch,
    hll_sketch,
    kll_doubles_sketch,
)

from featurestore.errors import FeatureStoreError
from featurestore.stats.moments import Number

# The ranks quantiles() reports by default: 0.01, 0.02, ..., 0.99.
PERCENTILES: tuple[float, ...] = tuple(round(i / 100, 2) for i in range(1, 100))

_SKETCHES = ("kll", "hll", "items")


@dataclass(frozen=True)
class Distinct:
    """An estimated number of distinct values and its bounds (``num_std_devs`` standard deviations)."""

    estimate: float
    lower: float
    upper: float


@dataclass(frozen=True)
class Bin:
    """One histogram bin: values in ``[lower, upper)`` (the last bin includes ``upper``), and their share."""

    lower: float
    upper: float
    fraction: float


@dataclass(frozen=True)
class FeatureProfile:
    """The statistics of one feature (column) of some rows.

    ``kind`` is what the column was profiled as (``number``, ``bool``, ``string``, ``time``,
    ``bytes``: see ``featurestore.stats.kinds``); ``dtype`` its Arrow type name. ``minimum`` and
    ``maximum`` are numbers (ints for integer columns), epoch microseconds for times; ``mean`` and
    ``stddev`` (sample) only for numbers. ``kll``, ``hll`` and ``items`` are serialized sketches,
    None where the kind has none.
    """

    name: str
    kind: str
    dtype: str
    count: int
    nulls: int
    minimum: Number | None = None
    maximum: Number | None = None
    mean: float | None = None
    stddev: float | None = None
    kll: bytes | None = None
    hll: bytes | None = None
    items: bytes | None = None

    def __repr__(self) -> str:
        """The exact statistics (the sketches' bytes left out).

        >>> FeatureProfile(name="x", kind="number", dtype="int64", count=3, nulls=1, minimum=1, maximum=2)
        FeatureProfile('x', number int64: count=3, nulls=1, min=1, max=2, mean=None, stddev=None)
        """
        return (
            f"FeatureProfile({self.name!r}, {self.kind} {self.dtype}: count={self.count}, "
            f"nulls={self.nulls}, min={self.minimum!r}, max={self.maximum!r}, mean={self.mean!r}, "
            f"stddev={self.stddev!r})"
        )

    @property
    def null_fraction(self) -> float:
        """Nulls among the rows (0.0 for no rows)."""
        return self.nulls / self.count if self.count else 0.0

    def quantiles(self, ranks: tuple[float, ...] = PERCENTILES) -> list[float]:
        """The values at these ranks (0.01 .. 0.99 by default) from the KLL sketch; [] without values."""
        sketch = self._kll()
        if sketch is None or sketch.is_empty():
            return []
        return [float(value) for value in sketch.get_quantiles(list(ranks))]

    def rank_error(self) -> float:
        """The KLL sketch's normalized rank error (a quantile's rank is off by at most this, 99 % of
        the time); 0.0 for a profile without a quantile sketch."""
        sketch = self._kll()
        return 0.0 if sketch is None else float(sketch.normalized_rank_error(False))

    def histogram(self, bins: int = 10) -> list[Bin]:
        """``bins`` equal-width bins from min to max with the share of values in each (from the KLL
        sketch's PMF); one bin when every value is the same, [] without values."""
        sketch = self._kll()
        if sketch is None or sketch.is_empty() or bins < 1:
            return []
        low, high = float(sketch.get_min_value()), float(sketch.get_max_value())
        if low == high:
            return [Bin(low, high, 1.0)]
        width = (high - low) / bins
        edges = [low + i * width for i in range(bins)] + [high]
        # get_pmf gives len(splits) + 1 masses: below the first split, between splits, from the last on.
        masses = sketch.get_pmf(edges[1:-1])
        return [Bin(edges[i], edges[i + 1], float(masses[i])) for i in range(bins)]

    def distinct(self, num_std_devs: int = 2) -> Distinct | None:
        """The estimated number of distinct non-null values with bounds (1 to 3 standard deviations)."""
        if self.hll is None:
            return None
        sketch = hll_sketch.deserialize(self.hll)
        return Distinct(
            estimate=float(sketch.get_estimate()),
            lower=float(sketch.get_lower_bound(num_std_devs)),
            upper=float(sketch.get_upper_bound(num_std_devs)),
        )

    def top_values(self, n: int = 10) -> list[tuple[str, int]]:
        """The most frequent values (strings; booleans as ``true`` / ``false``) with their estimated
        counts, most frequent first; exact while fewer distinct values were seen than the sketch holds."""
        if self.items is None:
            return []
        sketch = frequent_strings_sketch.deserialize(self.items)
        rows = sketch.get_frequent_items(frequent_items_error_type.NO_FALSE_NEGATIVES)
        ranked = sorted(((str(row[0]), int(row[1])) for row in rows), key=lambda item: (-item[1], item[0]))
        return ranked[:n]

    def to_json(self) -> str:
        """The profile as a JSON object; sketches as base64 of their bytes.

        >>> p = FeatureProfile(name="x", kind="bytes", dtype="binary", count=2, nulls=1)
        >>> FeatureProfile.from_json(p.to_json()) == p
        True
        """
        fields: dict[str, Any] = asdict(self)
        for key in _SKETCHES:
            raw = fields[key]
            fields[key] = None if raw is None else base64.b64encode(raw).decode("ascii")
        return json.dumps(fields, sort_keys=True)

    @staticmethod
    def from_json(text: str) -> FeatureProfile:
        """A profile read back from ``to_json``'s text."""
        try:
            fields = json.loads(text)
            for key in _SKETCHES:
                if fields.get(key) is not None:
                    fields[key] = base64.b64decode(fields[key], validate=True)
            return FeatureProfile(**fields)
        except (ValueError, TypeError) as error:
            raise FeatureStoreError(
                f"not a feature profile's JSON ({error}); write it with FeatureProfile.to_json()"
            ) from error

    def _kll(self) -> Any:
        return None if self.kll is None else kll_doubles_sketch.deserialize(self.kll)
