"""Validation on demand: ``FeatureStore.validate`` (the rows a materialization would write, or every
source row), ``TrainingSet.validate``, and ``featurestore validate`` / ``materialize`` exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from featurestore import FeatureStore
from featurestore.cli import cli
from tests.pit_repo import make_repo

H = timedelta(hours=1)
T = datetime(2026, 11, 30, 12)
DEFS = """
from featurestore import AllowedValues, Between, Freshness, NotNull, RowCount
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(
    name="stats", entities=[driver], ttl=timedelta(days=30),
    source=FileSource(name="stats_src", path="data/stats.parquet"),
    checks=[RowCount(min=1, max=3), Freshness(max_age=timedelta(hours=2), severity="warn")],
    features=[
        Feature("rate", "float64", checks=[Between(0, 1)]),
        Feature("tier", "string", checks=[AllowedValues(["gold", "silver"], severity="warn")]),
    ],
)
plain = FeatureView(
    name="plain", entities=[driver], ttl=timedelta(days=30),
    source=FileSource(name="plain_src", path="data/stats.parquet"),
    features=[Feature("rate", "float64")],
)
"""
# driver 1's older row is out of bounds (1.5), its latest is fine; driver 3's tier is not allowed.
DATA = {
    "data/stats.parquet": {
        "driver_id": [1, 1, 2, 3],
        "event_timestamp": [T - 5 * H, T - 4 * H, T - 4 * H, T - 3 * H],
        "rate": [1.5, 0.5, 0.2, 0.9],
        "tier": ["gold", "gold", "silver", "XX"],
    }
}


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    return make_repo(tmp_path, DEFS, DATA)


def run(store: FeatureStore, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--repo", str(store.root), *args])
    return result.exit_code, result.stdout, result.stderr


def test_validate_the_rows_a_materialization_would_write(store: FeatureStore) -> None:
    report = store.validate(end=T)
    assert report.ok  # the latest rows satisfy the error rules
    assert report.rules_checked == 4  # plain has no checks
    assert [v.line() for v in report.violations] == [
        "warn stats Freshness(max_age=2h): newest event 2026-11-30 09:00 (3 h before end)",
        "warn stats:tier AllowedValues(['gold', 'silver']): 1 value not allowed: 'XX' (1 row; driver_id=3)",
    ]
    record = store.state.active("stats")
    assert record is not None
    assert record.watermark is None  # nothing written


def test_validate_all_rows_counts_source_rows(store: FeatureStore) -> None:
    report = store.validate(["stats"], end=T, all_rows=True)
    assert [v.line() for v in report.errors] == [
        "error stats RowCount(min=1, max=3): 4 rows",
        "error stats:rate Between(0, 1): max 1.5 (1 row; driver_id=1)",
    ]
    early = store.validate("stats", end=T - 4 * H - timedelta(minutes=1), all_rows=True)
    assert [v.rule for v in early.errors] == ["Between(0, 1)"]


def test_training_set_validate_checks_its_feature_columns(store: FeatureStore) -> None:
    rows = pa.table({"driver_id": [1, 1, 3], "event_timestamp": [T - 5 * H, T, T]})
    training = store.get_training_set(rows, ["stats:rate", "stats:tier"], full_feature_names=True)
    report = training.validate()
    assert report.rules_checked == 2
    assert [v.line() for v in report.violations] == [
        "error stats:rate Between(0, 1): max 1.5 (1 row; driver_id=1)",
        "warn stats:tier AllowedValues(['gold', 'silver']): 1 value not allowed: 'XX' (1 row; driver_id=3)",
    ]


def test_cli_exit_codes(store: FeatureStore) -> None:
    end = T.isoformat()
    code, out, _ = run(store, "validate", "--end", end)
    assert code == 0, out
    assert "AllowedValues(['gold', 'silver'])" in out
    assert "4 rules checked: 0 error(s), 2 warning(s)" in out
    code, out, _ = run(store, "validate", "--end", end, "--strict")
    assert code == 3
    code, out, _ = run(store, "validate", "stats", "--end", end, "--all-rows", "--json")
    assert code == 3
    document = json.loads(out)
    assert (document["ok"], document["errors"], document["warnings"]) == (False, 2, 2)
    assert document["violations"][2]["keys"] == [{"driver_id": 1}]
    code, _, err = run(store, "validate", "nope")
    assert code == 1
    assert "'nope' is not registered" in err
    entity_rows = store.root / "rows.parquet"
    pq.write_table(pa.table({"driver_id": [1], "event_timestamp": [T - 5 * H]}), entity_rows)
    code, out, _ = run(store, "validate", "--training-set", str(entity_rows), "--features", "stats:rate")
    assert code == 3
    assert "max 1.5" in out


def test_materialize_exits_3_when_a_view_is_stopped(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    data = {"data/stats.parquet": {**DATA["data/stats.parquet"], "event_timestamp": [now - H] * 4}}
    data["data/stats.parquet"]["rate"] = [0.5, 0.5, 0.2, 1.9]
    store = make_repo(tmp_path, DEFS, data)
    code, out, err = run(store, "materialize", "--end", "now")
    assert code == 3, out + err
    assert "validation stopped stats" in err
    assert "Between(0, 1): max 1.9" in " ".join(out.split())
    assert store.state.active("plain") is not None
    code, out, _ = run(store, "materialize-incremental", "--end", "now", "--json")
    assert code == 3
    views = {v["view"]: v for v in json.loads(out)["views"]}
    assert views["stats"]["stopped"] is True
    assert views["stats"]["validation"]["errors"] == 1
    assert views["plain"]["stopped"] is False
