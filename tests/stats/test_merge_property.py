"""Profiles merged over any split of the rows into batches equal one profile over all rows: the exact
fields exactly (floats to 1e-9 relative), quantiles within the KLL sketch's rank error, distinct
counts within the HLL sketch's bounds, top values equal."""

from __future__ import annotations

import bisect
import math

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.stats import PERCENTILES, FeatureProfile, Profiler

COLUMNS = {"n": "double", "s": "string"}

# Few distinct values among many rows: ties; wide floats: rounding in the merged mean and spread.
numbers = st.one_of(
    st.none(),
    st.sampled_from([-3.0, 0.0, 1.0, 2.5, 1e6]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
strings = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "dd", ""]))


@st.composite
def rows_and_cuts(draw: st.DrawFn) -> tuple[list[float | None], list[str | None], list[int]]:
    size = draw(st.integers(min_value=0, max_value=700))
    n = draw(st.lists(numbers, min_size=size, max_size=size))
    s = draw(st.lists(strings, min_size=size, max_size=size))
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=size), max_size=6)))
    return n, s, cuts


def close(a: float | None, b: float | None, scale: float) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * scale)


def check_quantiles(profile: FeatureProfile, values: list[float]) -> None:
    """Each reported quantile's rank among the values (an interval, with ties) is within eps of its rank."""
    ordered = sorted(values)
    eps = profile.rank_error()
    for rank, value in zip(PERCENTILES, profile.quantiles(), strict=True):
        below = bisect.bisect_left(ordered, value) / len(ordered)
        through = bisect.bisect_right(ordered, value) / len(ordered)
        assert below - eps <= rank <= through + eps, (rank, value, below, through, eps)


@settings(max_examples=60, deadline=None)
@given(rows_and_cuts())
def test_merged_batches_equal_one_profile(
    data: tuple[list[float | None], list[str | None], list[int]],
) -> None:
    n, s, cuts = data
    whole = Profiler(COLUMNS)
    whole.update(pa.table({"n": pa.array(n, pa.float64()), "s": pa.array(s, pa.string())}))
    merged = Profiler(COLUMNS)
    for start, end in zip([0, *cuts], [*cuts, len(n)], strict=True):
        part = Profiler(COLUMNS)
        part.update(
            pa.table({"n": pa.array(n[start:end], pa.float64()), "s": pa.array(s[start:end], pa.string())})
        )
        merged.merge(part)
    one, many = whole.profiles(), merged.profiles()

    values = [x for x in n if x is not None]
    scale = max((abs(x) for x in values), default=1.0)
    a, b = one["n"], many["n"]
    assert (a.count, a.nulls, a.minimum, a.maximum) == (b.count, b.nulls, b.minimum, b.maximum)
    assert (b.count, b.nulls) == (len(n), len(n) - len(values))
    assert (b.minimum, b.maximum) == ((min(values), max(values)) if values else (None, None))
    assert close(a.mean, b.mean, scale)
    assert close(a.stddev, b.stddev, scale)
    if values:
        assert close(b.mean, math.fsum(values) / len(values), scale)
        check_quantiles(b, values)
        check_quantiles(a, values)
    else:
        assert b.quantiles() == []
    for profile, column in ((b, values), (many["s"], [x for x in s if x is not None])):
        distinct = profile.distinct(num_std_devs=3)
        assert distinct is not None
        assert distinct.lower <= len(set(column)) <= distinct.upper

    assert many["s"].top_values() == one["s"].top_values()
    counts: dict[str, int] = {}
    for x in s:
        if x is not None:
            counts[x] = counts.get(x, 0) + 1
    assert dict(many["s"].top_values()) == counts
    assert (many["s"].count, many["s"].nulls) == (len(s), len(s) - sum(counts.values()))
