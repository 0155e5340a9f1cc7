"""Hand-checked statistics of small columns, the errors, and the JSON round trip."""

from __future__ import annotations

import datetime
import math

import pyarrow as pa
import pytest

from featurestore.errors import FeatureStoreError, SchemaMismatchError
from featurestore.stats import Bin, FeatureProfile, Profiler


def profile_of(values: list[object], dtype: str, arrow: pa.DataType | None = None) -> FeatureProfile:
    profiler = Profiler({"x": dtype})
    profiler.update(pa.table({"x": pa.array(values, type=arrow)}))
    return profiler.profiles()["x"]


def test_exact_statistics_of_numbers() -> None:
    # 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations 9+1+1+1+0+0+4+16 = 32, sample variance 32/7.
    p = profile_of([2, 4, None, 4, 4, 5, 5, 7, 9, float("nan")], "double")
    assert (p.count, p.nulls, p.null_fraction) == (10, 2, 0.2)
    assert (p.minimum, p.maximum, p.mean) == (2.0, 9.0, 5.0)
    assert p.stddev == pytest.approx(math.sqrt(32 / 7), rel=1e-12)
    assert p.kind == "number"
    assert p.top_values() == []


def test_integers_are_numbers_and_one_value_has_no_stddev() -> None:
    p = profile_of([7, None], "int32", pa.int32())
    assert (p.count, p.nulls, p.minimum, p.maximum, p.mean, p.stddev) == (2, 1, 7.0, 7.0, 7.0, None)
    assert p.histogram() == [Bin(7.0, 7.0, 1.0)]


def test_integer_min_and_max_stay_exact_beyond_float_precision() -> None:
    big = 2**62
    p = profile_of([big + 3, big + 1, None], "int64")
    assert (p.minimum, p.maximum) == (big + 1, big + 3)
    assert isinstance(p.minimum, int)
    back = FeatureProfile.from_json(p.to_json())
    assert (back.minimum, back.maximum) == (big + 1, big + 3)


def test_median_of_1_to_101_within_the_rank_error() -> None:
    p = profile_of(list(range(1, 102)), "int64")
    eps = p.rank_error()
    assert 0 < eps < 0.02
    (median,) = p.quantiles((0.5,))
    # Rank r of value v in 1..101 is v / 101: the median's rank is within eps of 0.5.
    assert abs(median / 101 - 0.5) <= eps + 1 / 101
    assert len(p.quantiles()) == 99
    assert p.quantiles()[0] <= p.quantiles()[-1]


def test_histogram_of_1_to_100_has_ten_values_per_bin() -> None:
    p = profile_of(list(range(1, 101)), "int64")
    bins = p.histogram(bins=10)
    assert len(bins) == 10
    assert (bins[0].lower, bins[-1].upper) == (1.0, 100.0)
    assert [b.fraction for b in bins] == pytest.approx([0.1] * 10)
    assert bins[1].lower == pytest.approx(10.9)


def test_distinct_count_of_1000_values_within_bounds() -> None:
    profiler = Profiler({"x": "int64"})
    profiler.update(pa.table({"x": list(range(1000))}))
    profiler.update(pa.table({"x": list(range(1000))}))  # repeats add rows, not distinct values
    p = profiler.profiles()["x"]
    distinct = p.distinct()
    assert distinct is not None
    assert distinct.lower <= 1000 <= distinct.upper
    assert distinct.lower <= distinct.estimate <= distinct.upper
    assert distinct.upper - distinct.lower < 100  # about 3 % either side at lg_k 12
    assert p.count == 2000


def test_top_strings_and_booleans() -> None:
    p = profile_of(["a", "b", "a", None, "c", "a", "b"], "string")
    assert p.top_values() == [("a", 3), ("b", 2), ("c", 1)]
    assert p.top_values(n=1) == [("a", 3)]
    assert (p.count, p.nulls, p.mean, p.kll) == (7, 1, None, None)
    assert p.distinct() is not None
    assert round(p.distinct().estimate) == 3
    # DataSketches' HLL ignores an empty string unless told apart: it is a distinct value here.
    empty = profile_of(["", "a", ""], "string").distinct()
    assert empty is not None
    assert round(empty.estimate) == 2
    flags = profile_of([True, False, True, None], "bool")
    assert flags.top_values() == [("true", 2), ("false", 1)]
    assert flags.quantiles() == []
    assert flags.histogram() == []


def test_timestamps_have_min_and_max_in_epoch_microseconds() -> None:
    utc = datetime.UTC
    stamps = [datetime.datetime(2024, 1, 2, tzinfo=utc), None, datetime.datetime(2024, 1, 1, tzinfo=utc)]
    p = profile_of(stamps, "timestamp[ns, tz=UTC]", pa.timestamp("ns", tz="UTC"))
    day = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
    assert (p.kind, p.count, p.nulls, p.minimum, p.maximum) == ("time", 3, 1, day, day + 86_400_000_000)
    assert (p.mean, p.stddev, p.kll, p.items) == (None, None, None, None)
    dates = profile_of([datetime.date(1970, 1, 3)], "date32[day]")
    assert dates.minimum == 2 * 86_400_000_000


def test_json_round_trip_is_equal() -> None:
    profiler = Profiler({"n": "double", "s": "string", "b": "bool", "t": "timestamp[us]", "y": "binary"})
    profiler.update(
        pa.table(
            {
                "n": [1.5, None, -2.0],
                "s": ["x", "y", None],
                "b": [True, None, True],
                "t": pa.array([0, 5, None], pa.timestamp("us")),
                "y": [b"\x00", None, b"\x01"],
            }
        )
    )
    for profile in profiler.profiles().values():
        back = FeatureProfile.from_json(profile.to_json())
        assert back == profile
        assert (back.quantiles(), back.histogram(), back.distinct(), back.top_values()) == (
            profile.quantiles(),
            profile.histogram(),
            profile.distinct(),
            profile.top_values(),
        )


def test_empty_profile() -> None:
    p = Profiler({"x": "float64"}).profiles()["x"]
    assert (p.count, p.nulls, p.null_fraction, p.minimum, p.mean, p.stddev) == (0, 0, 0.0, None, None, None)
    assert p.quantiles() == []
    assert p.histogram() == []
    assert p.distinct() is not None
    assert p.distinct().estimate == 0


def test_errors_name_the_column_and_the_fix() -> None:
    with pytest.raises(FeatureStoreError, match=r"column 'v' of type 'list<item: int64>' cannot be profiled"):
        Profiler({"v": "list<item: int64>"})
    profiler = Profiler({"x": "int64"})
    with pytest.raises(SchemaMismatchError, match=r"no column 'x' \(it has y\)"):
        profiler.update(pa.table({"y": [1]}))
    with pytest.raises(
        SchemaMismatchError, match=r"column 'x' is string in the batch but was declared 'int64'"
    ):
        profiler.update(pa.table({"x": ["1"]}))
    with pytest.raises(FeatureStoreError, match="merge profilers created with the same columns"):
        profiler.merge(Profiler({"x": "string"}))
    with pytest.raises(FeatureStoreError, match="not a feature profile's JSON"):
        FeatureProfile.from_json('{"name": "x"}')


def test_profiles_display_as_a_table_without_sketch_bytes() -> None:
    from html.parser import HTMLParser

    import pyarrow as pa

    from featurestore.stats import Profiler, Profiles

    profiler = Profiler({"rate": "float64", "city": "string"})
    profiler.update(pa.table({"rate": [0.5, None, 1.5], "city": ["<Oslo>", "Rome", None]}))
    profiles = Profiles.of(profiler, rows=3, label="a & b")
    assert repr(profiles) == "<Profiles 'a & b': 3 rows, features rate, city>"
    assert "kll" not in repr(profiles["rate"])
    assert "count=3, nulls=1, min=0.5, max=1.5" in repr(profiles["rate"])

    cells: list[str] = []

    class Cells(HTMLParser):
        def handle_data(self, data: str) -> None:
            cells.append(data)

    page = profiles._repr_html_()
    Cells().feed(page)
    assert "a & b: 3 rows" in cells
    assert cells[cells.index("rate") : cells.index("rate") + 6] == [
        "rate",
        "float64",
        "33.3%",
        "0.5",
        "1.5",
        "1",
    ]
    assert "<Oslo>" not in page  # user values are escaped
