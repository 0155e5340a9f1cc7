"""Drift between two sets of feature profiles: how far the current distribution moved from a reference.

Per feature profiled on both sides (``Profiles``), from the sketches alone (no rows are read again):

* numbers (KLL quantile sketches): **PSI**, the population stability index over the reference's ten
  equal-mass bins (split points: its deciles, repeats dropped; bins ``(s[i-1], s[i]]``), both sides'
  masses from ``get_pmf`` on the same splits, ``sum((c - r) * ln(c / r))`` with an empty bin's mass
  raised to ``EPSILON``; and the **Kolmogorov-Smirnov** statistic ``max |F_ref(x) - F_cur(x)|``, both
  CDFs (``P(X <= x)``) evaluated at every value either sketch retains, which are the points where
  either CDF steps (under ``k = 200`` values a sketch keeps them all and the figure is exact).
* strings and booleans (frequent-items sketches): the **Jensen-Shannon distance** (the square root
  of the divergence, base 2, so in ``[0, 1]``; 0 for equal mixes, 1 for disjoint ones) and
  **L-infinity**, the largest difference of one category's share, over the union of both sides'
  top values plus one ``other`` category (the values no sketch names: non-null count minus the
  named counts).
* every kind: ``nulls``, the absolute change of the null fraction.
* times and bytes: only ``nulls``; their distributions are not compared (noted in the result).

Each metric is checked against a ``Thresholds`` (per feature, or the default): above it, the metric's
name is in the feature's ``exceeded``.

    >>> import pyarrow as pa
    >>> from featurestore.stats.profiler import Profiler
    >>> def profiles(values: list[str], label: str) -> Profiles:
    ...     profiler = Profiler({"city": "string"})
    ...     profiler.update(pa.table({"city": values}))
    ...     return Profiles.of(profiler, rows=len(values), label=label)
    >>> report = compare(profiles(["a", "a", "b", "b"], "train"), profiles(["a", "a", "a", "b"], "served"))
    >>> report["city"].metrics["linf"], report["city"].exceeded
    (0.25, ('js', 'linf'))
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from datasketches import frequent_strings_sketch, kll_doubles_sketch  # type: ignore[import-untyped]

from featurestore.errors import FeatureStoreError
from featurestore.stats.profile import FeatureProfile
from featurestore.stats.profiles import Profiles

EPSILON = 1e-4
"""The mass an empty PSI bin is given (on either side), so ``ln(c / r)`` stays finite: a bin that
empties entirely adds about ``r * ln(r / 1e-4)``, e.g. 0.69 for a decile that vanished."""

DIGITS = 12
"""Metrics are rounded to this many decimals, so float noise (a KS of 0.1 computed as
0.10000000000000009) never crosses a threshold."""

DECILES: tuple[float, ...] = tuple(i / 10 for i in range(1, 10))
OTHER = "(other)"
"""The category of the values no frequent-items sketch names."""

METRICS = ("psi", "ks", "js", "linf", "nulls")
_COMPARED = {"number": ("psi", "ks"), "string": ("js", "linf"), "bool": ("js", "linf")}


@dataclass(frozen=True)
class Thresholds:
    """The largest value of each metric that is not drift; None: that metric is not checked.

    ``psi`` 0.2 (the usual "significant shift"), ``ks`` 0.1, ``js`` 0.1 (distance), ``linf`` 0.1;
    ``nulls`` (change of the null fraction) unchecked by default.

    >>> Thresholds().with_values({"psi": 0.25, "ks": None})
    Thresholds(psi=0.25, ks=None, js=0.1, linf=0.1, nulls=None)
    """

    psi: float | None = 0.2
    ks: float | None = 0.1
    js: float | None = 0.1
    linf: float | None = 0.1
    nulls: float | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None and (not isinstance(value, int | float) or not value >= 0):
                raise FeatureStoreError(
                    f"drift threshold {item.name}={value!r} is not a number >= 0; give one, or None "
                    "to leave the metric unchecked"
                )

    def with_values(self, values: Mapping[str, float | None]) -> Thresholds:
        """These thresholds with some replaced (``{"psi": 0.3}``); an unknown metric is an error."""
        unknown = sorted(set(values) - set(METRICS))
        if unknown:
            raise FeatureStoreError(
                f"no drift metric {', '.join(map(repr, unknown))}; "
                f"thresholds are set for {', '.join(METRICS)}"
            )
        return Thresholds(**{**self.to_json(), **values})

    def to_json(self) -> dict[str, float | None]:
        return {item.name: getattr(self, item.name) for item in fields(self)}


DEFAULT = Thresholds()


@dataclass(frozen=True)
class FeatureDrift:
    """The drift of one feature: ``metrics`` by name (None where not computed, see ``note``),
    ``exceeded`` the names of those above their threshold. ``reference_rows`` / ``current_rows`` are
    the rows each side profiled (None when the feature is not on that side); ``comparable`` is False
    when nothing but the null fraction could be compared (or not even that)."""

    feature: str
    kind: str
    metrics: Mapping[str, float | None]
    thresholds: Thresholds
    exceeded: tuple[str, ...]
    reference_rows: int | None
    current_rows: int | None
    comparable: bool
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "metrics": dict(self.metrics),
            "thresholds": self.thresholds.to_json(),
            "exceeded": list(self.exceeded),
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "comparable": self.comparable,
            "note": self.note,
        }


@dataclass(frozen=True)
class DriftReport(Mapping[str, FeatureDrift]):
    """Every feature's drift between ``reference`` and ``current`` (their labels), by feature name:
    the features of the reference in its order, then those only the current side has."""

    reference: str
    current: str
    features: tuple[FeatureDrift, ...] = field(default_factory=tuple)

    def __getitem__(self, name: str) -> FeatureDrift:
        for drift in self.features:
            if drift.feature == name:
                return drift
        known = ", ".join(d.feature for d in self.features) or "none"
        raise FeatureStoreError(f"the drift report has no feature {name!r}; it has: {known}")

    def __iter__(self) -> Iterator[str]:
        return iter([d.feature for d in self.features])

    def __len__(self) -> int:
        return len(self.features)

    @property
    def exceeded(self) -> tuple[FeatureDrift, ...]:
        """The features with some metric above its threshold."""
        return tuple(d for d in self.features if d.exceeded)

    @property
    def missing(self) -> tuple[str, ...]:
        """Features profiled on one side only."""
        return tuple(d.feature for d in self.features if d.reference_rows is None or d.current_rows is None)

    def summary(self) -> str:
        """One line: how many features drifted, and which metrics."""
        if not self.exceeded:
            where = f"{self.reference} -> {self.current}"
            return f"no drift over thresholds in {len(self.features)} features ({where})"
        named = "; ".join(f"{d.feature}: {', '.join(d.exceeded)}" for d in self.exceeded)
        return f"drift in {len(self.exceeded)} of {len(self.features)} features: {named}"

    def lines(self) -> list[str]:
        """The report as text: one line per feature (metrics, ``!`` after one over its threshold), then
        the summary."""
        out = []
        for d in self.features:
            shown = [
                f"{name} {value:.4f}{'!' if name in d.exceeded else ''}"
                for name, value in d.metrics.items()
                if value is not None
            ]
            tail = f" ({d.note})" if d.note else ""
            out.append(f"{d.feature} [{d.kind}]: {', '.join(shown) or '-'}{tail}")
        return [*out, self.summary()]

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "current": self.current,
            "drifted": bool(self.exceeded),
            "exceeded": {d.feature: list(d.exceeded) for d in self.exceeded},
            "missing": list(self.missing),
            "features": [d.to_json() for d in self.features],
        }


def compare(
    reference: Profiles,
    current: Profiles,
    thresholds: Mapping[str, Thresholds] | None = None,
    default: Thresholds = DEFAULT,
) -> DriftReport:
    """The drift of every feature from ``reference`` to ``current``; ``thresholds`` per feature name,
    ``default`` for the others. A feature on one side only is listed with a note, never an error."""
    chosen = dict(thresholds or {})
    # Profiles.features, not the Profiles: a missing name raises FeatureStoreError there, not KeyError.
    names = [*reference.features, *(name for name in current.features if name not in reference.features)]
    out = []
    for name in names:
        limits = chosen.get(name, default)
        ref, cur = reference.features.get(name), current.features.get(name)
        if ref is not None and cur is not None:
            out.append(feature_drift(ref, cur, limits))
            continue
        present = ref if ref is not None else cur
        if present is not None:  # always: the name came from one side
            side = reference.label if ref is None else current.label
            out.append(
                FeatureDrift(
                    feature=name,
                    kind=present.kind,
                    metrics={},
                    thresholds=limits,
                    exceeded=(),
                    reference_rows=None if ref is None else ref.count,
                    current_rows=None if cur is None else cur.count,
                    comparable=False,
                    note=f"missing: not profiled in {side}",
                )
            )
    return DriftReport(reference=reference.label, current=current.label, features=tuple(out))


def feature_drift(
    reference: FeatureProfile, current: FeatureProfile, limits: Thresholds = DEFAULT
) -> FeatureDrift:
    """The drift of one feature between two profiles of it."""
    metrics: dict[str, float | None] = {}
    notes = []
    if reference.kind != current.kind:
        notes.append(f"not compared: {reference.kind} in the reference, {current.kind} now")
    compared = _COMPARED.get(reference.kind, ()) if not notes else ()
    if not notes and not compared:
        notes.append(f"distributions of {reference.kind} values are not compared")
    empty = [side for side, p in (("reference", reference), ("current", current)) if p.count == p.nulls]
    if compared and empty:
        notes.append(f"no values in the {' and '.join(empty)}")
    for metric in compared:
        metrics[metric] = None
    if compared and not empty:
        if reference.kind == "number":
            ref_kll, cur_kll = _kll(reference), _kll(current)
            metrics["psi"], metrics["ks"] = psi(ref_kll, cur_kll), ks(ref_kll, cur_kll)
        else:
            p, q = category_shares(reference, current)
            metrics["js"], metrics["linf"] = js_distance(p, q), linf(p, q)
    both_counted = reference.count and current.count
    metrics["nulls"] = abs(current.null_fraction - reference.null_fraction) if both_counted else None
    metrics = {name: None if value is None else round(value, DIGITS) for name, value in metrics.items()}
    exceeded = tuple(
        name
        for name, value in metrics.items()
        if value is not None and (limit := getattr(limits, name)) is not None and value > limit
    )
    return FeatureDrift(
        feature=reference.name,
        kind=reference.kind,
        metrics=metrics,
        thresholds=limits,
        exceeded=exceeded,
        reference_rows=reference.count,
        current_rows=current.count,
        comparable=bool(compared) and not empty,
        note="; ".join(notes) or None,
    )


def psi(reference: Any, current: Any, ranks: tuple[float, ...] = DECILES) -> float:
    """The population stability index of ``current`` against ``reference`` (two non-empty KLL sketches),
    over the bins between the reference's quantiles at ``ranks``; 0.0 for equal masses."""
    splits = sorted(set(reference.get_quantiles(list(ranks), inclusive=True)))
    expected = reference.get_pmf(splits, inclusive=True)
    actual = current.get_pmf(splits, inclusive=True)
    total = 0.0
    for r, c in zip(expected, actual, strict=True):
        r, c = max(float(r), EPSILON), max(float(c), EPSILON)
        total += (c - r) * math.log(c / r)
    return total


def ks(reference: Any, current: Any) -> float:
    """The Kolmogorov-Smirnov statistic of two non-empty KLL sketches: the largest difference of their
    CDFs, at every value either one retains."""
    points = sorted({float(value) for sketch in (reference, current) for value, _ in sketch})
    left = reference.get_cdf(points, inclusive=True)
    right = current.get_cdf(points, inclusive=True)
    return max(abs(float(a) - float(b)) for a, b in zip(left, right, strict=True))


def category_shares(reference: FeatureProfile, current: FeatureProfile) -> tuple[list[float], list[float]]:
    """Both sides' shares of the union of their top values, then of ``other``, each summing to 1
    (non-null values only; both sides need some)."""
    ref_items, cur_items = _items(reference), _items(current)
    names = sorted(
        {value for value, _ in reference.top_values(n=_ALL)} | {v for v, _ in current.top_values(n=_ALL)}
    )
    shares = []
    for profile, sketch in ((reference, ref_items), (current, cur_items)):
        counts = [float(sketch.get_estimate(name)) for name in names]
        values = profile.count - profile.nulls
        counts.append(max(values - sum(counts), 0.0))
        total = sum(counts)
        shares.append([count / total for count in counts])
    return shares[0], shares[1]


def js_distance(p: list[float], q: list[float]) -> float:
    """The Jensen-Shannon distance (base 2) of two distributions over the same categories, in [0, 1].

    >>> js_distance([1.0, 0.0], [0.0, 1.0]), js_distance([0.5, 0.5], [0.5, 0.5])
    (1.0, 0.0)
    """
    m = [(a + b) / 2 for a, b in zip(p, q, strict=True)]
    divergence = (_kl(p, m) + _kl(q, m)) / 2
    return min(math.sqrt(max(divergence, 0.0)), 1.0)


def linf(p: list[float], q: list[float]) -> float:
    """The largest difference of one category's share.

    >>> linf([0.5, 0.5], [0.75, 0.25])
    0.25
    """
    return max(abs(a - b) for a, b in zip(p, q, strict=True))


_ALL = 1 << 30  # every value a frequent-items sketch names


def _kl(p: list[float], m: list[float]) -> float:
    return sum(a * math.log2(a / b) for a, b in zip(p, m, strict=True) if a > 0)


def _kll(profile: FeatureProfile) -> Any:
    if profile.kll is None:
        raise FeatureStoreError(f"the profile of {profile.name!r} has no quantile sketch; profile it again")
    return kll_doubles_sketch.deserialize(profile.kll)


def _items(profile: FeatureProfile) -> Any:
    if profile.items is None:
        raise FeatureStoreError(
            f"the profile of {profile.name!r} has no frequent-items sketch; profile it again"
        )
    return frequent_strings_sketch.deserialize(profile.items)
