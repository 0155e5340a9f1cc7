"""The exact statistics of a column (count, nulls, min, max, mean, spread), mergeable.

Mean and spread are merged with Chan's parallel formula: for parts ``a`` and ``b`` with ``n`` values
in all and ``delta = mean_b - mean_a``, ``mean = mean_a + delta * n_b / n`` and
``m2 = m2_a + m2_b + delta**2 * n_a * n_b / n`` (``m2``: the sum of squared deviations from the mean),
so a profile merged over batches equals one computed over all rows, up to float rounding.

    >>> a = Moments(count=2, nulls=0, values=2, minimum=1.0, maximum=3.0, mean=2.0, m2=2.0)
    >>> b = Moments(count=2, nulls=1, values=1, minimum=5.0, maximum=5.0, mean=5.0, m2=0.0)
    >>> merged = a.merge(b)
    >>> merged.count, merged.nulls, merged.mean, merged.m2, merged.stddev()
    (4, 1, 3.0, 8.0, 2.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

Number = int | float


@dataclass(frozen=True)
class Moments:
    """Rows seen, nulls among them, and over the ``values`` non-null values min, max, mean and m2.

    Min and max are numbers (epoch microseconds for times); mean and m2 are None where the column is
    not numeric or holds no value.
    """

    count: int = 0
    nulls: int = 0
    values: int = 0
    minimum: Number | None = None
    maximum: Number | None = None
    mean: float | None = None
    m2: float | None = None

    @staticmethod
    def of_numbers(count: int, numbers: pa.Array) -> Moments:
        """The moments of ``count`` rows whose non-null values are ``numbers`` (integers or float64).

        >>> import pyarrow as pa
        >>> Moments.of_numbers(3, pa.array([1.0, 3.0])).m2
        2.0
        """
        import pyarrow.compute as pc

        values = len(numbers)
        if values == 0:
            return Moments(count=count, nulls=count)
        bounds = pc.min_max(numbers)
        mean = pc.mean(numbers).as_py()
        return Moments(
            count=count,
            nulls=count - values,
            values=values,
            minimum=bounds["min"].as_py(),
            maximum=bounds["max"].as_py(),
            mean=mean,
            m2=pc.variance(numbers, ddof=0).as_py() * values,
        )

    def merge(self, other: Moments) -> Moments:
        """The moments of both parts' rows together (Chan's formula for mean and m2)."""
        values = self.values + other.values
        mean, m2 = self.mean, self.m2
        if other.mean is not None and other.m2 is not None:
            if mean is None or m2 is None:
                mean, m2 = other.mean, other.m2
            else:
                delta = other.mean - mean
                mean = mean + delta * other.values / values
                m2 = m2 + other.m2 + delta * delta * self.values * other.values / values
        return Moments(
            count=self.count + other.count,
            nulls=self.nulls + other.nulls,
            values=values,
            minimum=_pick(min, self.minimum, other.minimum),
            maximum=_pick(max, self.maximum, other.maximum),
            mean=mean,
            m2=m2,
        )

    def stddev(self) -> float | None:
        """The sample standard deviation (SQL's ``stddev``, n - 1 in the denominator); None below 2 values."""
        if self.m2 is None or self.values < 2:
            return None
        return math.sqrt(max(self.m2, 0.0) / (self.values - 1))


def _pick(choose: Callable[[Number, Number], Number], a: Number | None, b: Number | None) -> Number | None:
    if a is None:
        return b
    if b is None:
        return a
    return choose(a, b)
