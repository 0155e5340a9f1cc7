"""Drift between profiles: 0 for the same data, hand-checked PSI, KS, Jensen-Shannon and L-infinity on
small data (under k = 200 values a KLL sketch keeps every value, so the figures are exact), detection of a
shifted normal and of a changed category mix, and the metrics' ranges and symmetry as a property."""

from __future__ import annotations

import datetime
import math
from pathlib import Path

import numpy
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.errors import FeatureStoreError
from featurestore.stats import DEFAULT, FeatureDrift, Profiler, Profiles, Thresholds, compare
from featurestore.stats.drift import EPSILON


def profiles(label: str = "p", batches: int = 1, **columns: list[object] | pa.Array) -> Profiles:
    """The profiles of ``columns`` (name -> values), fed to the profiler in ``batches`` slices."""
    table = pa.table(dict(columns.items()))
    profiler = Profiler({name: str(table.schema.field(name).type) for name in table.column_names})
    size = math.ceil(table.num_rows / batches) or 1
    for start in range(0, table.num_rows, size):
        profiler.update(table.slice(start, size))
    return Profiles.of(profiler, rows=table.num_rows, label=label)


def value(drift: FeatureDrift, metric: str) -> float:
    """A metric that must have been computed."""
    found = drift.metrics[metric]
    assert found is not None, (drift.feature, metric, drift.note)
    return found


def test_identical_data_drifts_exactly_zero() -> None:
    # Under k = 200 values both sketches hold every value: equal sketches of equal data.
    data = {"x": [float(v) for v in range(148)], "city": ["a", "b", "c", None] * 37}
    report = compare(profiles("ref", **data), profiles("cur", batches=3, **data))
    assert report["x"].metrics == {"psi": 0.0, "ks": 0.0, "nulls": 0.0}
    assert report["city"].metrics == {"js": 0.0, "linf": 0.0, "nulls": 0.0}
    assert report.exceeded == ()
    assert report.summary() == "no drift over thresholds in 2 features (ref -> cur)"


def test_a_profile_against_itself_saved_and_loaded_drifts_exactly_zero(tmp_path: Path) -> None:
    # Above k values a KLL sketch compacts at random: the same profile (not the same data) is exact.
    reference = profiles("ref", x=numpy.random.default_rng(3).normal(size=5000), s=["a", "b"] * 2500)
    again = Profiles.load(reference.save(tmp_path / "ref.json"))
    report = compare(reference, again)
    assert report["x"].metrics == {"psi": 0.0, "ks": 0.0, "nulls": 0.0}
    assert report["s"].metrics == {"js": 0.0, "linf": 0.0, "nulls": 0.0}


def test_same_data_in_other_batches_drifts_within_the_sketch_error() -> None:
    values = numpy.random.default_rng(1).normal(size=20_000)
    whole, split = profiles("ref", x=values), profiles("cur", batches=7, x=values)
    eps = whole["x"].rank_error()
    drift = compare(whole, split)["x"]
    # Each sketch's CDF is within eps of the data's: their difference within 2 eps. A bin's mass is
    # a difference of two CDF values: off by at most 4 eps, and PSI ~ sum (dc)^2 / r stays tiny.
    assert value(drift, "ks") <= 2 * eps
    assert value(drift, "psi") < 10 * (4 * eps) ** 2 / 0.1
    assert drift.exceeded == ()


def test_psi_and_ks_hand_checked() -> None:
    # Reference 1..10: deciles 1..9, ten bins of 0.1: (-inf, 1], (1, 2], ..., (8, 9], (9, inf).
    # Current 2..11: nothing in (-inf, 1] (EPSILON), 0.1 in each of the next eight, 0.2 above 9.
    # CDFs: at x = 1..10 the reference has x/10 and the current (x-1)/10: KS = 0.1 exactly.
    report = compare(
        profiles("ref", x=[float(v) for v in range(1, 11)]),
        profiles("cur", x=[float(v) for v in range(2, 12)]),
    )
    expected_psi = (EPSILON - 0.1) * math.log(EPSILON / 0.1) + (0.2 - 0.1) * math.log(0.2 / 0.1)
    drift = report["x"]
    assert drift.metrics["psi"] == pytest.approx(expected_psi, rel=1e-9)  # 0.7594
    assert drift.metrics["ks"] == pytest.approx(0.1, rel=1e-9)
    assert drift.exceeded == ("psi",)  # KS is at its threshold, not over it
    assert (drift.reference_rows, drift.current_rows, drift.comparable) == (10, 10, True)


def test_js_and_linf_hand_checked_with_nulls() -> None:
    # Shares (false, true, other): reference (1/3, 2/3, 0), current (1, 0, 0); the mixture m = (2/3, 1/3, 0).
    # KL(p || m) = 1/3 log2(1/2) + 2/3 log2(2) = 1/3; KL(q || m) = log2(3/2).
    report = compare(
        profiles("ref", ok=[True, True, False]),
        profiles("cur", ok=[False, False, False, None]),
    )
    drift = report["ok"]
    assert drift.kind == "bool"
    assert drift.metrics["js"] == pytest.approx(math.sqrt((1 / 3 + math.log2(1.5)) / 2), rel=1e-12)
    assert drift.metrics["linf"] == pytest.approx(2 / 3, rel=1e-12)
    assert drift.metrics["nulls"] == 0.25
    assert drift.exceeded == ("js", "linf")


def test_disjoint_categories_are_js_one() -> None:
    drift = compare(profiles(s=["a", "a"]), profiles(s=["b"]))["s"]
    assert drift.metrics["js"] == pytest.approx(1.0)
    assert drift.metrics["linf"] == pytest.approx(1.0)


def test_a_shifted_normal_is_detected() -> None:
    rng = numpy.random.default_rng(7)
    drift = compare(profiles(x=rng.normal(0, 1, 5000)), profiles(x=rng.normal(1, 1, 5000)))["x"]
    # One standard deviation: the true KS is 2 Phi(0.5) - 1 = 0.383.
    assert drift.metrics["ks"] == pytest.approx(0.383, abs=0.04)
    assert value(drift, "psi") > 0.5
    assert drift.exceeded == ("psi", "ks")


def test_a_changed_category_mix_is_detected() -> None:
    ref = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    cur = ["a"] * 20 + ["b"] * 30 + ["c"] * 50
    report = compare(profiles("train", s=ref), profiles("served", s=cur))
    assert report["s"].metrics["linf"] == pytest.approx(0.3)
    assert report["s"].exceeded == ("js", "linf")
    assert [d.feature for d in report.exceeded] == ["s"]
    assert report.summary() == "drift in 1 of 1 features: s: js, linf"
    # Shares (a, b, c, other) (.5, .3, .2, 0) and (.2, .3, .5, 0), mixture (.35, .3, .35, 0); both
    # divergences from it are .5 log2(.5/.35) + .2 log2(.2/.35) = 0.0958: the distance sqrt(0.0958).
    half = 0.5 * math.log2(0.5 / 0.35) + 0.2 * math.log2(0.2 / 0.35)
    assert report["s"].metrics["js"] == pytest.approx(math.sqrt(half), rel=1e-9)
    assert report.lines()[0] == "s [string]: js 0.3095!, linf 0.3000!, nulls 0.0000"


def test_thresholds_per_feature_and_unchecked_metrics() -> None:
    ref, cur = profiles(x=[1.0, 2.0, 3.0], y=[1.0, 2.0, 3.0]), profiles(x=[7.0, 8.0, 9.0], y=[7.0, 8.0, 9.0])
    loose = Thresholds(psi=None, ks=1.0)
    report = compare(ref, cur, {"x": loose}, default=DEFAULT.with_values({"ks": 0.5}))
    assert report["x"].exceeded == ()
    assert report["x"].thresholds == loose
    assert report["y"].exceeded == ("psi", "ks")
    assert report["y"].metrics["ks"] == 1.0


def test_missing_features_empty_sides_and_kinds_not_compared() -> None:
    day = datetime.datetime(2024, 1, 1)
    ref = profiles(
        "ref", x=pa.array([1.0, 2.0]), t=[day, day], gone=[1, 2], e=pa.array([None, None], pa.float64())
    )
    cur = profiles("cur", x=pa.array(["1", "2"]), t=[day, None], new=["a", "b"], e=pa.array([1.0, 2.0]))
    report = compare(ref, cur)
    assert list(report) == ["x", "t", "gone", "e", "new"]
    assert report.missing == ("gone", "new")
    assert report["gone"].note == "missing: not profiled in cur"
    assert report["new"].note == "missing: not profiled in ref"
    assert (report["new"].reference_rows, report["new"].current_rows) == (None, 2)
    assert report["x"].note == "not compared: number in the reference, string now"
    assert report["x"].metrics == {"nulls": 0.0}
    assert report["t"].note == "distributions of time values are not compared"
    assert report["t"].metrics == {"nulls": 0.5}
    assert report["e"].note == "no values in the reference"
    assert report["e"].metrics == {"psi": None, "ks": None, "nulls": 1.0}
    assert not any(d.comparable for d in report.features)
    assert report.exceeded == ()
    document = report.to_json()
    assert document["missing"] == ["gone", "new"]
    assert document["features"][1]["metrics"] == {"nulls": 0.5}
    with pytest.raises(FeatureStoreError, match="no feature 'nope'; it has: x, t, gone, e, new"):
        report["nope"]


def test_bad_thresholds_say_what_to_give() -> None:
    with pytest.raises(FeatureStoreError, match=r"psi=-1 is not a number >= 0"):
        Thresholds(psi=-1)
    with pytest.raises(FeatureStoreError, match=r"no drift metric 'chi2'; thresholds are set for psi, ks"):
        DEFAULT.with_values({"chi2": 0.1})


numbers = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=400)
categories = st.lists(st.sampled_from(["a", "b", "c", "", "e"]), min_size=1, max_size=300)


@settings(max_examples=60, deadline=None)
@given(numbers, numbers, categories, categories)
def test_metric_ranges_and_symmetry(x1: list[float], x2: list[float], s1: list[str], s2: list[str]) -> None:
    one = Profiles({**profiles(x=x1), **profiles(s=s1)}, rows=0, label="one")
    two = Profiles({**profiles(x=x2), **profiles(s=s2)}, rows=0, label="two")
    forward, backward = compare(one, two), compare(two, one)
    for report in (forward, backward):
        assert value(report["x"], "psi") >= 0
        assert 0 <= value(report["x"], "ks") <= 1
        assert 0 <= value(report["s"], "js") <= 1
        assert 0 <= value(report["s"], "linf") <= 1
    for name in ("ks",):
        assert forward["x"].metrics[name] == pytest.approx(backward["x"].metrics[name], abs=1e-12)
    for name in ("js", "linf"):
        assert forward["s"].metrics[name] == pytest.approx(backward["s"].metrics[name], abs=1e-12)
    if x1 == x2:
        assert forward["x"].metrics["psi"] == 0.0
