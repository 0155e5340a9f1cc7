"""Statistics of materialization runs and training sets, on hand-checked data, through the SDK and the CLI.

The view ``stats`` (rate, trips, city) of four drivers; driver 1 has two rows (the older is not the
latest, so it is not written and not profiled)::

    driver  event time   rate  trips  city
    1       T - 3h       0.1   10     Oslo     (superseded)
    1       T - 1h       0.2   20     Oslo
    2       T - 2h       null  50     Rome
    3       T - 30min    0.9   90     Oslo
    4       T - 20min    0.4   null   null

Written: rate {0.2, null, 0.9, 0.4} -> count 4, 1 null, min 0.2, max 0.9, mean 0.5, stddev 0.360555;
trips {20, 50, 90, null} -> min 20, max 90, mean 53.333; city: Oslo x2, Rome x1, 1 null.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from featurestore import FeatureStore
from featurestore.cli import cli
from featurestore.errors import FeatureStoreError
from featurestore.stats import Profiles
from tests.pit_repo import make_repo, write_data

H = timedelta(hours=1)
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
T = NOW - H
ROWS = pa.table(
    {
        "driver_id": pa.array([1, 1, 2, 3, 4], pa.int64()),
        "event_timestamp": pa.array([T - 3 * H, T - H, T - 2 * H, T - H / 2, T - H / 3], pa.timestamp("us")),
        "rate": pa.array([0.1, 0.2, None, 0.9, 0.4], pa.float64()),
        "trips": pa.array([10, 20, 50, 90, None], pa.int64()),
        "city": pa.array(["Oslo", "Oslo", "Rome", "Oslo", None], pa.string()),
    }
)
DEFS = """
driver = Entity(name="driver", join_keys=["driver_id"])
src = FileSource(name="stats", path="data/stats.parquet", timestamp_field="event_timestamp")
stats = FeatureView(name="stats", entities=[driver], source=src, ttl=timedelta(days=3),
                    features=[Feature("rate", "float64"), Feature("trips", "int64"),
                              Feature("city", "string")])
"""


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    return make_repo(tmp_path, DEFS, {"data/stats.parquet": ROWS})


def test_a_run_profiles_the_values_it_writes(store: FeatureStore) -> None:
    summary = store.materialize(end=T)
    (run,) = summary.runs
    assert run.profiles is not None
    assert run.run_number is not None
    profiles = store.stats("stats")
    assert profiles.rows == 4
    assert profiles.run == run.run_number
    rate, trips, city = profiles["rate"], profiles["trips"], profiles["city"]
    assert (rate.count, rate.nulls, rate.minimum, rate.maximum) == (4, 1, 0.2, 0.9)
    assert rate.mean == pytest.approx(0.5)
    assert rate.stddev == pytest.approx(math.sqrt(((0.3**2) + (0.4**2) + (0.1**2)) / 2))
    assert (trips.minimum, trips.maximum, trips.nulls) == (20, 90, 1)
    assert isinstance(trips.minimum, int)
    assert trips.mean == pytest.approx(160 / 3)
    assert rate.quantiles((0.0, 1.0)) == [0.2, 0.9]  # fewer values than the sketch holds: exact
    assert city.top_values() == [("Oslo", 2), ("Rome", 1)]
    assert city.null_fraction == 0.25
    distinct = city.distinct()
    assert distinct is not None
    assert round(distinct.estimate) == 2


def test_each_run_keeps_its_own_statistics(store: FeatureStore, tmp_path: Path) -> None:
    store.materialize(end=T)
    first = store.stats("stats")
    later = ROWS.slice(0, 4)  # driver 4 gone: a second full run writes 3 values
    write_data(tmp_path, "data/stats.parquet", later)
    store.materialize(end=T, start=None)
    second = store.stats("stats")
    assert first.run is not None
    assert second.run is not None
    assert second.run > first.run
    assert second.rows == 3
    assert store.stats("stats", first.run).rows == 4
    assert [r.run for r in store.runs("stats")] == [second.run, first.run]


def test_statistics_can_be_turned_off(tmp_path: Path) -> None:
    (tmp_path / "featurestore.toml").write_text("[materialize]\nstatistics = false\n")
    store = make_repo(tmp_path, DEFS, {"data/stats.parquet": ROWS})
    (run,) = store.materialize(end=T).runs
    assert run.profiles is None
    with pytest.raises(FeatureStoreError, match=r"no statistics of any run of view 'stats'.*materialize"):
        store.stats("stats")


def test_a_training_set_profiles_its_feature_columns_once(store: FeatureStore, tmp_path: Path) -> None:
    entity_rows = pa.table(
        {"driver_id": [1, 2, 3, 9], "event_timestamp": pa.array([T, T, T, T], pa.timestamp("us"))}
    )
    training = store.get_training_set(entity_rows, ["stats:rate", "stats:city"])
    profiles = training.profile()
    assert list(profiles) == ["rate", "city"]  # features only, not the entity rows' columns
    assert profiles.rows == 4
    rate = profiles["rate"]
    assert (rate.count, rate.nulls, rate.minimum, rate.maximum) == (4, 2, 0.2, 0.9)  # 2: null, none
    assert training.profile() is profiles
    written = store.get_training_set(entity_rows, ["stats:rate", "stats:city"])
    written.to_parquet(tmp_path / "ts.parquet", profile=True)
    assert written.profile().to_json()["features"] == profiles.to_json()["features"]


def test_the_cli_prints_statistics_and_saves_training_profiles(store: FeatureStore, tmp_path: Path) -> None:
    store.materialize(end=T)
    runner = CliRunner()
    shown = runner.invoke(cli, ["--repo", str(tmp_path), "stats", "stats"])
    assert shown.exit_code == 0, shown.output
    assert "rate" in shown.output
    assert "4 rows" in shown.output
    assert "Oslo 67%" in shown.output
    as_json = runner.invoke(cli, ["--repo", str(tmp_path), "stats", "stats", "--json"])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    assert document["features"]["trips"]["summary"]["quantiles"]["p50"] == 50.0
    assert Profiles.from_json(document)["rate"].maximum == 0.9  # the printed document is a profile
    missing = runner.invoke(cli, ["--repo", str(tmp_path), "stats", "stats", "--run", "999"])
    assert missing.exit_code == 1
    assert "no statistics of run 999 of view 'stats'" in missing.output

    pa_rows = pa.table({"driver_id": [1, 3], "event_timestamp": pa.array([T, T], pa.timestamp("us"))})
    import pyarrow.parquet as pq

    pq.write_table(pa_rows, tmp_path / "rows.parquet")
    built = runner.invoke(
        cli,
        [
            "--repo",
            str(tmp_path),
            "training-set",
            "--entities",
            str(tmp_path / "rows.parquet"),
            "--features",
            "stats:rate,stats:trips",
            "--out",
            str(tmp_path / "ts.parquet"),
            "--profile",
            str(tmp_path / "profile.json"),
        ],
    )
    assert built.exit_code == 0, built.output
    saved = Profiles.load(tmp_path / "profile.json")
    assert (saved["rate"].minimum, saved["rate"].maximum, saved["trips"].mean) == (0.2, 0.9, 55.0)
    shown_file = runner.invoke(
        cli, ["--repo", str(tmp_path), "stats", "--profile", str(tmp_path / "profile.json")]
    )
    assert shown_file.exit_code == 0, shown_file.output
    assert "training set: 2 rows" in shown_file.output


def test_drift_compares_runs_and_training_profiles_by_name(store: FeatureStore, tmp_path: Path) -> None:
    store.materialize(end=T)
    first = store.stats("stats").run
    shifted = ROWS.set_column(2, "rate", pa.array([0.9, 0.95, None, 0.99, 0.97], pa.float64()))
    write_data(tmp_path, "data/stats.parquet", shifted)
    store.materialize(end=T)
    runner = CliRunner()
    repo = ["--repo", str(tmp_path)]
    same = runner.invoke(
        cli, [*repo, "drift", "--reference", f"stats@{first}", "--current", f"stats@{first}"]
    )
    assert same.exit_code == 0, same.output
    moved = runner.invoke(
        cli, [*repo, "drift", "--reference", f"stats@{first}", "--current", "stats", "--json"]
    )
    assert moved.exit_code == 3, moved.output
    report = json.loads(moved.output)
    assert [f["feature"] for f in report["features"] if f["exceeded"]] == ["rate"]
    bad = runner.invoke(cli, [*repo, "drift", "--reference", "stats@first", "--current", "stats"])
    assert bad.exit_code == 1
    assert "give a run number" in bad.output

    entity_rows = pa.table(
        {"driver_id": [1, 2, 3, 4], "event_timestamp": pa.array([T] * 4, pa.timestamp("us"))}
    )
    store.get_training_set(entity_rows, ["stats:rate", "stats:trips"]).profile().save(tmp_path / "train.json")
    against_run = runner.invoke(
        cli, [*repo, "drift", "--reference", str(tmp_path / "train.json"), "--current", "stats", "--json"]
    )
    assert against_run.exit_code == 0, against_run.output  # the training set read the shifted rows too
    compared = {f["feature"] for f in json.loads(against_run.output)["features"]}
    assert {"rate", "trips"} <= compared


def test_a_feature_s_max_drift_check_sets_its_thresholds(tmp_path: Path) -> None:
    lenient = DEFS.replace(
        'Feature("rate", "float64")', 'Feature("rate", "float64", checks=[MaxDrift(psi=50, ks=1.0)])'
    )
    store = make_repo(tmp_path, "from featurestore import MaxDrift\n" + lenient, {"data/stats.parquet": ROWS})
    store.materialize(end=T)
    first = store.stats("stats").run
    shifted = ROWS.set_column(2, "rate", pa.array([0.9, 0.95, None, 0.99, 0.97], pa.float64()))
    write_data(tmp_path, "data/stats.parquet", shifted)
    store.materialize(end=T)
    document = store.state.run_profiles("stats")
    assert document is not None
    assert document[1]["drift"]["reference_run"] == first
    assert document[1]["drift"]["features"]["rate"]["exceeded"] == []  # within the declared thresholds
    assert document[1]["drift"]["features"]["rate"]["metrics"]["psi"] > 0.2  # over the default
    runner = CliRunner()
    repo = ["--repo", str(tmp_path)]
    lenient_run = runner.invoke(cli, [*repo, "drift", "--reference", f"stats@{first}", "--current", "stats"])
    assert lenient_run.exit_code == 0, lenient_run.output
    strict = runner.invoke(
        cli,
        [
            *repo,
            "drift",
            "--reference",
            f"stats@{first}",
            "--current",
            "stats",
            "--threshold",
            "rate:psi=0.2",
        ],
    )
    assert strict.exit_code == 3, strict.output
