"""``Profiler``: statistics of columns accumulated over Arrow batches in one pass, mergeable.

Each batch adds its exact aggregates (pyarrow.compute; merged with Chan's formula, see
``moments.py``) and updates the sketches: the KLL sketch with the numpy array of non-null numbers,
the HLL sketch with each distinct value of the batch (a repeat changes nothing), frequent items with
each distinct value weighted by its count. Two profilers of the same columns merge (sketch merges
plus the exact merge), so batches can be profiled apart, in threads or processes, and combined.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy
from datasketches import (  # type: ignore[import-untyped]
    frequent_strings_sketch,
    hll_sketch,
    hll_union,
    kll_doubles_sketch,
)

from featurestore.errors import FeatureStoreError, SchemaMismatchError
from featurestore.stats.kinds import SUPPORTED, Kind, epoch_micros, kind_of, non_null, time_numbers
from featurestore.stats.moments import Moments
from featurestore.stats.profile import FeatureProfile

if TYPE_CHECKING:
    import pyarrow as pa

# Sketch sizes: KLL k=200 (rank error ~1.3 %), HLL 2^12 buckets (distinct count within ~3.2 % at
# two standard deviations), frequent items in a map of 2^10 slots (exact below ~750 distinct values).
KLL_K = 200
HLL_LG_K = 12
ITEMS_LG_MAX_K = 10


@dataclass
class _Column:
    """The running state of one column: exact moments and its sketches (None where its kind has none)."""

    kind: Kind
    dtype: str
    moments: Moments = field(default_factory=Moments)
    kll: Any = None
    hll: Any = None
    items: Any = None

    @staticmethod
    def start(kind: Kind, dtype: str) -> _Column:
        return _Column(
            kind=kind,
            dtype=dtype,
            kll=kll_doubles_sketch(KLL_K) if kind == "number" else None,
            hll=hll_sketch(HLL_LG_K),
            items=frequent_strings_sketch(ITEMS_LG_MAX_K) if kind in ("string", "bool") else None,
        )

    @staticmethod
    def of_profile(profile: FeatureProfile) -> _Column:
        """The running state a profile was taken from (m2 recovered from the sample stddev), to merge
        profiles taken apart (in Spark's executors, say)."""
        kind = kind_of(profile.dtype)
        if kind is None or kind != profile.kind:
            raise FeatureStoreError(
                f"the profile of {profile.name!r} is of kind {profile.kind!r} for type {profile.dtype!r}; "
                "profile it again with this version of featurestore"
            )
        values = profile.count - profile.nulls
        m2 = None
        if profile.mean is not None:
            m2 = 0.0 if profile.stddev is None else profile.stddev * profile.stddev * (values - 1)
        moments = Moments(
            count=profile.count,
            nulls=profile.nulls,
            values=values,
            minimum=profile.minimum,
            maximum=profile.maximum,
            mean=profile.mean,
            m2=m2,
        )
        return _Column(
            kind=kind,
            dtype=profile.dtype,
            moments=moments,
            kll=None if profile.kll is None else kll_doubles_sketch.deserialize(profile.kll),
            hll=hll_sketch.deserialize(profile.hll) if profile.hll is not None else hll_sketch(HLL_LG_K),
            items=None if profile.items is None else frequent_strings_sketch.deserialize(profile.items),
        )

    def update(self, column: pa.Array | pa.ChunkedArray) -> None:
        import pyarrow.compute as pc

        values = non_null(column, self.kind)
        if self.kind == "number":
            self.moments = self.moments.merge(Moments.of_numbers(len(column), values))
            if len(values):
                # A writable, contiguous float64 copy: what the sketch's array overload accepts.
                self.kll.update(numpy.array(values.to_numpy(zero_copy_only=False), dtype=numpy.float64))
        else:
            self.moments = self.moments.merge(self._bounds(len(column), values))
        if self.kind == "time":
            values = time_numbers(values)  # the distinct count is over instants in the column's unit
        if self.items is not None:
            counts = pc.value_counts(values)
            for value, count in zip(
                counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True
            ):
                self.items.update(_text(value), count)
        for value in pc.unique(values).to_pylist():
            self.hll.update(_hashed(value))

    def _bounds(self, count: int, values: pa.Array) -> Moments:
        """Count, nulls, and for times min and max as epoch microseconds."""
        import pyarrow.compute as pc

        if self.kind != "time" or len(values) == 0:
            return Moments(count=count, nulls=count - len(values), values=len(values))
        bounds = pc.min_max(values)
        return Moments(
            count=count,
            nulls=count - len(values),
            values=len(values),
            minimum=epoch_micros(bounds["min"]),
            maximum=epoch_micros(bounds["max"]),
        )

    def merge(self, other: _Column) -> None:
        self.moments = self.moments.merge(other.moments)
        if self.kll is not None:
            self.kll.merge(other.kll)
        union = hll_union(HLL_LG_K)
        union.update(self.hll)
        union.update(other.hll)
        self.hll = union.get_result()
        if self.items is not None:
            self.items.merge(other.items)

    def profile(self, name: str) -> FeatureProfile:
        m = self.moments
        return FeatureProfile(
            name=name,
            kind=self.kind,
            dtype=self.dtype,
            count=m.count,
            nulls=m.nulls,
            minimum=m.minimum,
            maximum=m.maximum,
            mean=m.mean,
            stddev=m.stddev(),
            kll=None if self.kll is None else bytes(self.kll.serialize()),
            hll=bytes(self.hll.serialize_compact()),
            items=None if self.items is None else bytes(self.items.serialize()),
        )


def _hashed(value: object) -> Any:
    """What the HLL sketch is updated with. DataSketches ignores an empty string, so every string is
    prefixed (``"=" + value``) and the empty string counts as a distinct value like any other;
    bytes go in as ``=`` + hex."""
    if isinstance(value, bytes):
        return "=" + value.hex()
    if isinstance(value, str):
        return "=" + value
    return _text(value)


def _text(value: object) -> Any:
    """What a sketch is updated with: booleans as ``true`` / ``false``; ints, floats, strings as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class Profiler:
    """Statistics of the given columns over every batch passed to ``update``.

    ``columns`` maps a column name to its Arrow type name (or feature dtype): what it is profiled as.

        >>> import pyarrow as pa
        >>> profiler = Profiler({"x": "int64"})
        >>> profiler.update(pa.table({"x": [1, 2, None]}))
        >>> profile = profiler.profiles()["x"]
        >>> profile.count, profile.nulls, profile.minimum, profile.maximum, profile.mean
        (3, 1, 1, 2, 1.5)
    """

    def __init__(self, columns: Mapping[str, str]) -> None:
        self._columns: dict[str, _Column] = {}
        for name, dtype in columns.items():
            kind = kind_of(dtype)
            if kind is None:
                raise FeatureStoreError(
                    f"column {name!r} of type {dtype!r} cannot be profiled; profiled types are {SUPPORTED}: "
                    "leave it out of the columns to profile"
                )
            self._columns[name] = _Column.start(kind, dtype)

    @classmethod
    def from_profiles(cls, profiles: Mapping[str, FeatureProfile]) -> Profiler:
        """A profiler holding what ``profiles`` describe, to merge with others (or to go on updating).

        >>> import pyarrow as pa
        >>> a, b = Profiler({"x": "int64"}), Profiler({"x": "int64"})
        >>> a.update(pa.table({"x": [1, 2]}))
        >>> b.update(pa.table({"x": [4, None]}))
        >>> merged = Profiler.from_profiles(a.profiles())
        >>> merged.merge(Profiler.from_profiles(b.profiles()))
        >>> p = merged.profiles()["x"]
        >>> p.count, p.nulls, p.minimum, p.maximum, round(p.mean, 6), round(p.stddev, 6)
        (4, 1, 1, 4, 2.333333, 1.527525)
        """
        profiler = cls({})
        profiler._columns = {name: _Column.of_profile(profile) for name, profile in profiles.items()}
        return profiler

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Add a batch's rows; it must hold every profiled column (other columns are ignored)."""
        missing = [name for name in self._columns if name not in batch.schema.names]
        if missing:
            raise SchemaMismatchError(
                f"the batch to profile has no column {', '.join(map(repr, missing))} "
                f"(it has {', '.join(batch.schema.names) or 'none'}); profile only columns it holds"
            )
        for name, state in self._columns.items():
            actual = batch.schema.field(name).type
            if kind_of(str(actual)) != state.kind:
                raise SchemaMismatchError(
                    f"column {name!r} is {actual} in the batch but was declared {state.dtype!r} "
                    f"({state.kind}); declare the column's type as the batch holds it"
                )
            state.update(batch.column(name))

    def merge(self, other: Profiler) -> None:
        """Add another profiler's rows (same columns, same kinds) to this one."""
        mine = {name: state.kind for name, state in self._columns.items()}
        theirs = {name: state.kind for name, state in other._columns.items()}
        if mine != theirs:
            raise FeatureStoreError(
                f"cannot merge profiles of other columns: {theirs} into {mine}; "
                "merge profilers created with the same columns"
            )
        for name, state in self._columns.items():
            state.merge(other._columns[name])

    def profiles(self) -> dict[str, FeatureProfile]:
        """One ``FeatureProfile`` per column, of every row seen so far."""
        return {name: state.profile(name) for name, state in self._columns.items()}
