"""``verify --from-log`` consistency metrics per feature, hand-checked: a feature log with known matches,
mismatches (numbers off by a known amount: their SMAPE), missing and extra values, replayed against a
tiny repo; the SDK's ``ConsistencyMetrics``, the CLI's table and ``--json``, and ``--metrics-out``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from featurestore import FeatureStore
from featurestore.cli import cli
from featurestore.feature_logging import ConsistencyMetrics, SmapeSummary
from featurestore.feature_logging.writer import (
    META_FEATURES,
    META_KEYS,
    META_REQUEST,
    META_SERVICE,
    REQUEST_TS,
)
from tests.pit_repo import make_repo, naive

DEFINITIONS = """
from featurestore import FeatureLogging

driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(
    name="stats",
    entities=[driver],
    source=FileSource(name="stats_source", path="data/stats.parquet", timestamp_field="event_timestamp"),
    ttl=None,
    features=[Feature("rate", "float64"), Feature("trips", "int64"), Feature("city", "string")],
)
model = FeatureService(name="model", features=[stats], logging=FeatureLogging())
"""

# Offline: drivers 1, 2, 3 (driver 4 has no row).
STATS = {
    "driver_id": [1, 2, 3],
    "event_timestamp": [naive(2024, 1, 1, 10)] * 3,
    "rate": [0.5, 0.25, 0.0],
    "trips": [10, 4, 0],
    "city": ["Oslo", "Rome", "Paris"],
}

# Served, one request at 2024-01-02 for five rows (driver 1 twice). Against the offline values:
#   rate:  0.5 match | 0.3 vs 0.25 mismatch, SMAPE 0.05 / 0.275 = 2/11 | None vs 0.0 missing
#          | 0.9 vs None extra | 0.5 match.      SMAPE over 3 rows with both: [0, 2/11, 0].
#   trips: 10 match | 4 match | 0 vs 0 match (SMAPE 0) | None vs None match | 15 vs 10 mismatch,
#          SMAPE 5 / 12.5 = 0.4.                  SMAPE over 4 rows with both: [0, 0, 0, 0.4].
#   city:  Oslo match | Roma vs Rome mismatch | None vs Paris missing | None vs None match | Oslo match.
SERVED = {
    "driver_id": [1, 2, 3, 4, 1],
    "stats__rate": [0.5, 0.3, None, 0.9, 0.5],
    "stats__trips": [10, 4, 0, None, 15],
    "stats__city": ["Oslo", "Roma", None, None, "Oslo"],
}
AT = datetime(2024, 1, 2, tzinfo=UTC)


def write_log(root: Path) -> Path:
    """A feature log file as the feature logger writes it (columns, types and metadata)."""
    columns: dict[str, pa.Array] = {
        "driver_id": pa.array(SERVED["driver_id"], pa.int64()),
        REQUEST_TS: pa.array([AT] * 5, pa.timestamp("us", tz="UTC")),
    }
    types = {"stats__rate": pa.float64(), "stats__trips": pa.int64(), "stats__city": pa.string()}
    for name, arrow in types.items():
        values = SERVED[name]
        columns[name] = pa.array(values, arrow)
        columns[f"{name}__status"] = pa.array(["NOT_FOUND" if v is None else "PRESENT" for v in values])
    metadata = {
        META_SERVICE: b"model",
        META_FEATURES: json.dumps(["stats:rate", "stats:trips", "stats:city"]).encode(),
        META_KEYS: json.dumps(["driver_id"]).encode(),
        META_REQUEST: b"[]",
    }
    folder = root / "log" / "model"
    folder.mkdir(parents=True)
    pq.write_table(pa.table(columns).replace_schema_metadata(metadata), folder / "part.parquet")
    return root / "log"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    make_repo(root, DEFINITIONS, {"data/stats.parquet": STATS})
    write_log(root)
    return root


def verify(repo: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--repo", str(repo), "verify", "--from-log", str(repo / "log"), *args])


def test_metrics_per_feature_hand_checked(repo: Path) -> None:
    with FeatureStore(repo) as store:
        checks = {c.feature: c for c in store.verify_log(repo / "log")}
    assert list(checks) == ["stats:rate", "stats:trips", "stats:city"]
    rate, trips, city = checks["stats:rate"], checks["stats:trips"], checks["stats:city"]
    assert isinstance(rate, ConsistencyMetrics)
    counts = {f: (c.rows, c.matches, c.mismatches, c.missing, c.extra) for f, c in checks.items()}
    assert counts == {
        "stats:rate": (5, 2, 1, 1, 1),
        "stats:trips": (5, 4, 1, 0, 0),
        "stats:city": (5, 3, 1, 1, 0),
    }
    assert (rate.mismatch_rate, rate.missing_rate, rate.extra_rate, rate.failures) == (0.2, 0.2, 0.2, 3)
    # inverted_cdf percentiles: the smallest SMAPE with at least that share of rows at or below it.
    assert rate.smape == SmapeSummary(rows=3, mean=pytest.approx(2 / 33), p50=0.0, p90=pytest.approx(2 / 11),
                                      p99=pytest.approx(2 / 11), max=pytest.approx(2 / 11))  # fmt: skip
    assert trips.smape == SmapeSummary(rows=4, mean=pytest.approx(0.1), p50=0.0, p90=0.4, p99=0.4, max=0.4)
    assert city.smape is None
    assert [(e["status"], e["key"], e["served"], e["offline"]) for e in rate.examples] == [
        ("mismatch", {"driver_id": 2}, 0.3, 0.25),
        ("missing", {"driver_id": 3}, None, 0.0),
        ("extra", {"driver_id": 4}, 0.9, None),
    ]
    assert trips.examples[0]["at"] == "2024-01-02 00:00:00+00:00"


def test_cli_table_and_json(repo: Path) -> None:
    text = verify(repo)
    assert text.exit_code == 1, text.output
    lines = {
        line.split()[1]: line.split() for line in text.stdout.splitlines() if line.split()[:1] == ["model"]
    }
    # service feature rows match mismatch missing extra rate | smape mean p50 p90 p99 max
    rate = ["5", "2", "1", "1", "1", "20.0000%", "0.06061", "0", "0.1818", "0.1818", "0.1818"]
    assert lines["stats:rate"][2:] == rate
    assert lines["stats:trips"][2:] == ["5", "4", "1", "0", "0", "20.0000%", "0.1", "0", "0.4", "0.4", "0.4"]
    assert lines["stats:city"][2:] == ["5", "3", "1", "1", "0", "20.0000%", "-", "-", "-", "-", "-"]
    assert (
        "stats:rate extra driver_id=4 at 2024-01-02 00:00:00+00:00: served 0.9, offline None" in text.stdout
    )

    result = verify(repo, "--json")
    assert result.exit_code == 1
    document = {d["feature"]: d for d in json.loads(result.stdout)}
    assert document["stats:trips"] == {
        "service": "model",
        "feature": "stats:trips",
        "rows": 5,
        "matches": 4,
        "mismatches": 1,
        "missing": 0,
        "extra": 0,
        "mismatch_rate": 0.2,
        "missing_rate": 0.0,
        "extra_rate": 0.0,
        "smape": {"rows": 4, "mean": 0.1, "p50": 0.0, "p90": 0.4, "p99": 0.4, "max": 0.4},
        "examples": [
            {
                "status": "mismatch",
                "key": {"driver_id": 1},
                "at": "2024-01-02 00:00:00+00:00",
                "served": 15,
                "offline": 10,
            }
        ],
    }


def test_metrics_out_parquet_and_csv(repo: Path) -> None:
    result = verify(repo, "--metrics-out", str(repo / "skew.parquet"))
    assert result.exit_code == 1
    table = pq.read_table(repo / "skew.parquet")
    assert table.column_names == [
        "service", "feature", "driver_id", "request_ts", "served", "offline", "served_number",
        "offline_number", "status", "smape",
    ]  # fmt: skip
    assert table.num_rows == 15
    rate = table.filter(pa.compute.equal(table.column("feature"), "stats:rate"))
    assert rate.column("status").to_pylist() == ["match", "mismatch", "missing", "extra", "match"]
    assert rate.column("served").to_pylist() == ["0.5", "0.3", None, "0.9", "0.5"]
    assert rate.column("offline_number").to_pylist() == [0.5, 0.25, 0.0, None, 0.5]
    assert rate.column("smape").to_pylist() == pytest.approx([0.0, 2 / 11, None, None, 0.0])
    assert rate.column("request_ts").to_pylist() == [AT] * 5
    city = table.filter(pa.compute.equal(table.column("feature"), "stats:city"))
    assert city.column("offline").to_pylist() == ["Oslo", "Rome", "Paris", None, "Oslo"]
    assert city.column("smape").null_count == 5

    assert verify(repo, "--metrics-out", str(repo / "skew.csv")).exit_code == 1
    csv = pacsv.read_csv(repo / "skew.csv")
    assert csv.num_rows == 15
    assert csv.column("status").to_pylist()[5:10] == ["match", "match", "match", "match", "mismatch"]
    assert csv.column("smape").to_pylist()[9] == 0.4


def test_metrics_out_refused_before_any_work(repo: Path) -> None:
    result = verify(repo, "--metrics-out", str(repo / "skew.xlsx"))
    assert result.exit_code == 1
    assert "name a .parquet or .csv file" in result.stderr
    assert not (repo / "skew.xlsx").exists()
    alone = CliRunner().invoke(cli, ["--repo", str(repo), "verify", "--metrics-out", "x.csv"])
    assert alone.exit_code == 1
    assert "give --from-log PATH with it" in alone.stderr
