"""Feature statistics on Apache DataSketches: exact aggregates plus mergeable sketches.

``Profiler`` accumulates per-column statistics over Arrow batches in one pass; ``FeatureProfile``
is the frozen result for one column, with a JSON form. Count, nulls, min, max, mean and stddev are
exact; quantiles and histogram come from a KLL sketch, the distinct count from an HLL sketch, top
values from a frequent-items sketch, so profiles of separate batches merge into the profile of all.

    >>> import pyarrow as pa
    >>> profiler = Profiler({"trips": "int64", "city": "string"})
    >>> profiler.update(pa.table({"trips": [1, 2, 3, None], "city": ["Oslo", "Oslo", "Rome", None]}))
    >>> trips, city = profiler.profiles()["trips"], profiler.profiles()["city"]
    >>> trips.count, trips.null_fraction, trips.mean, trips.stddev, trips.quantiles((0.5,))
    (4, 0.25, 2.0, 1.0, [2.0])
    >>> city.top_values(), round(city.distinct().estimate)
    ([('Oslo', 2), ('Rome', 1)], 2)

May import: ``errors``, ``dsl.dtypes``, ``storage.local`` (lazily, to save a file).

Modules: ``kinds.py`` (what a column is profiled as), ``moments.py`` (exact aggregates, Chan's
merge), ``profile.py`` (``FeatureProfile``), ``profiler.py`` (``Profiler``), ``profiles.py``
(``Profiles``: the profiles of one set of rows as one JSON document), ``drift.py`` (``compare``:
PSI, KS, Jensen-Shannon, L-infinity between two ``Profiles``; ``Thresholds``, ``DriftReport``). To
add a statistic: an exact one goes into ``Moments`` (with its merge), a sketch into
``profiler._Column`` (update, merge, serialize) and ``FeatureProfile``; a drift metric into
``drift.py`` (a function, its name in ``METRICS`` and a field of ``Thresholds``).
"""

from featurestore.stats.drift import DEFAULT, DriftReport, FeatureDrift, Thresholds, compare
from featurestore.stats.profile import PERCENTILES, Bin, Distinct, FeatureProfile
from featurestore.stats.profiler import Profiler
from featurestore.stats.profiles import Profiles

__all__ = [
    "DEFAULT",
    "PERCENTILES",
    "Bin",
    "Distinct",
    "DriftReport",
    "FeatureDrift",
    "FeatureProfile",
    "Profiler",
    "Profiles",
    "Thresholds",
    "compare",
]
