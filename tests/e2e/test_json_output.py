"""`--json` on every command that prints a table: one JSON document alone on stdout, stable keys, ISO
times, real values (hand-checked on a tiny repo); and tables that are never cut to 80 columns.

The repo: one view (ttl None, so no value expires by the wall clock), three rows of two drivers.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from featurestore.cli import cli
from tests.pit_repo import make_repo, naive, write_definitions

DEFINITIONS = """
driver = Entity(name="driver", join_keys=["driver_id"])
driver_stats = FeatureView(
    name="driver_stats",
    entities=[driver],
    source=FileSource(
        name="driver_stats_source", path="data/stats.parquet", timestamp_field="event_timestamp"
    ),
    ttl=None,
    features=[Feature("rate", "float64"), Feature("last_trip", "timestamp")],
)
model = FeatureService(name="model", features=[driver_stats])
"""

STATS = {
    "driver_id": [1, 1, 2],
    "event_timestamp": [naive(2024, 1, 1, 10), naive(2024, 1, 1, 11), naive(2024, 1, 1, 11, 30)],
    "rate": [0.75, 0.5, 0.25],
    "last_trip": [naive(2024, 1, 1, 9), naive(2024, 1, 1, 10, 45), naive(2024, 1, 1, 11, 15)],
}
ENTITY_ROWS = {
    "driver_id": [1, 2, 1],
    "event_timestamp": [naive(2024, 1, 1, 10, 30), naive(2024, 1, 1, 12), naive(2024, 1, 1, 12)],
    "label": [1, 0, 1],
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    make_repo(root, DEFINITIONS, {"data/stats.parquet": STATS, "data/rows.parquet": ENTITY_ROWS}, apply=False)
    return root


def invoke(repo: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--repo", str(repo), *args])


def document(result: Result) -> Any:
    """The one JSON document on stdout (json.loads refuses anything before or after it)."""
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def applied(repo: Path) -> Path:
    assert invoke(repo, "apply").exit_code == 0
    return repo


def materialized(repo: Path) -> Path:
    assert invoke(applied(repo), "materialize", "--end", "2024-01-02").exit_code == 0
    return repo


def test_plan_and_apply_json(repo: Path) -> None:
    plan = document(invoke(repo, "plan", "--json"))
    added = [
        ("added", "entity", "driver"),
        ("added", "source", "driver_stats_source"),
        ("added", "feature service", "model"),
        ("added", "feature view", "driver_stats"),
    ]
    assert plan["applied"] is False
    assert [(c["kind"], c["object_type"], c["name"]) for c in plan["changes"]] == added
    assert plan["changes"][3]["consequence"] == "nothing online until `featurestore materialize`"
    assert set(plan["changes"][0]) == {"kind", "object_type", "name", "detail", "consequence"}
    assert plan["counts"] == {"added": 4, "data": 0, "metadata": 0, "removed": 0}
    assert plan["warnings"] == []
    assert not (repo / ".featurestore" / "registry.json").exists()

    apply = document(invoke(repo, "apply", "--json"))
    assert apply["applied"] is True
    assert apply["changes"] == plan["changes"]
    again = document(invoke(repo, "apply", "--json"))
    assert again == {
        "applied": True,
        "changes": [],
        "counts": {"added": 0, "data": 0, "metadata": 0, "removed": 0},
        "warnings": [],
        "base_version": 1,
    }

    write_definitions(repo, DEFINITIONS.replace("ttl=None", "ttl=timedelta(days=2)"))
    changed = document(invoke(repo, "plan", "--json"))["changes"]
    assert [(c["kind"], c["name"], c["detail"]) for c in changed] == [
        ("data", "driver_stats", "ttl none -> 2d")
    ]
    assert changed[0]["consequence"].startswith("a new online version; the active one keeps serving")


def test_a_long_plan_line_is_not_wrapped_when_piped(repo: Path) -> None:
    applied(repo)
    write_definitions(repo, DEFINITIONS.replace("ttl=None", "ttl=timedelta(days=2)"))
    out = invoke(repo, "plan").stdout
    consequence = document(invoke(repo, "plan", "--json"))["changes"][0]["consequence"]
    assert len(consequence) > 140
    assert f"      online: {consequence}" in out.splitlines()


def test_list_json_for_every_kind(repo: Path) -> None:
    from featurestore import FeatureStore

    applied(repo)
    version = FeatureStore(repo).registry.views["driver_stats"].data_fingerprint
    assert document(invoke(repo, "list", "--json")) == [
        {
            "view": "driver_stats",
            "entities": ["driver"],
            "features": ["rate", "last_trip"],
            "ttl_seconds": None,
            "source": "driver_stats_source",
            "version": version,
            "online": True,
        }
    ]
    assert document(invoke(repo, "list", "services", "--json")) == [
        {"service": "model", "features": ["driver_stats:rate", "driver_stats:last_trip"]}
    ]
    assert document(invoke(repo, "list", "entities", "--json")) == [
        {"entity": "driver", "join_keys": ["driver_id"]}
    ]
    assert document(invoke(repo, "list", "sources", "--json")) == [
        {"source": "driver_stats_source", "kind": "file", "location": "data/stats.parquet"}
    ]
    assert document(invoke(repo, "list", "on-demand", "--json")) == []


def test_describe_prints_json_with_or_without_the_flag(repo: Path) -> None:
    applied(repo)
    described = document(invoke(repo, "describe", "driver", "--json"))
    assert described == document(invoke(repo, "describe", "driver"))
    assert described["kind"] == "entity"
    assert described["join_keys"] == ["driver_id"]


def test_materialize_json(repo: Path) -> None:
    summary = document(invoke(applied(repo), "materialize", "--end", "2024-01-02", "--json"))
    assert summary["end"] == "2024-01-02T00:00:00+00:00"
    (run,) = summary["views"]
    assert {k: run[k] for k in ("view", "status", "rows_read", "rows_skipped", "rows_expired")} == {
        "view": "driver_stats",
        "status": "active",
        "rows_read": 3,
        "rows_skipped": 0,
        "rows_expired": 0,
    }
    assert run["entities_written"] == 2
    again = document(invoke(repo, "materialize-incremental", "--end", "2024-01-02", "--json"))
    assert [v["view"] for v in again["views"]] == ["driver_stats"]


def test_get_online_json_has_iso_times(repo: Path) -> None:
    materialized(repo)
    args = ("get-online", "--features", "model", "--entity", "driver_id=1", "--entity", "driver_id=2")
    online = document(invoke(repo, *args, "--entity", "driver_id=3", "--json"))
    assert online == {
        "values": {
            "driver_id": [1, 2, 3],
            "rate": [0.5, 0.25, None],
            "last_trip": ["2024-01-01T10:45:00+00:00", "2024-01-01T11:15:00+00:00", None],
        },
        "statuses": {
            "rate": ["PRESENT", "PRESENT", "NOT_FOUND"],
            "last_trip": ["PRESENT", "PRESENT", "NOT_FOUND"],
        },
    }


def test_training_set_json_summarizes_what_was_built(repo: Path, tmp_path: Path) -> None:
    applied(repo)
    out = tmp_path / "ts.parquet"
    args = ("training-set", "--entities", str(repo / "data/rows.parquet"), "--features", "model")
    summary = document(invoke(repo, *args, "--out", str(out), "--json"))
    assert set(summary) == {"rows", "columns", "schema", "out", "profile", "seconds"}
    assert summary["rows"] == 3
    assert summary["columns"] == ["driver_id", "event_timestamp", "label", "rate", "last_trip"]
    assert summary["schema"] == {
        "driver_id": "int64",
        "event_timestamp": "timestamp[us, tz=UTC]",
        "label": "int64",
        "rate": "double",
        "last_trip": "timestamp[us, tz=UTC]",
    }
    assert summary["out"] == str(out)
    written = pq.read_table(out)
    assert written.column("rate").to_pylist() == [0.75, 0.25, 0.5]
    assert written.column("last_trip").to_pylist()[0] == datetime(2024, 1, 1, 9, tzinfo=UTC)

    preview = document(invoke(repo, *args, "--json"))
    assert preview["out"] is None
    assert {k: preview[k] for k in ("rows", "columns", "schema")} == {
        k: summary[k] for k in ("rows", "columns", "schema")
    }


def test_status_and_verify_json_are_alone_on_stdout(repo: Path) -> None:
    materialized(repo)
    (status,) = document(invoke(repo, "status", "--json"))
    assert (status["view"], status["status"], status["watermark"]) == (
        "driver_stats",
        "active",
        "2024-01-02T00:00:00",
    )
    (check,) = document(invoke(repo, "verify", "--json"))
    assert (check["view"], check["at"], check["entities"], check["matches"]) == (
        "driver_stats",
        "2024-01-02T00:00:00+00:00",
        2,
        2,
    )


def test_verify_from_log_json(repo: Path) -> None:
    from featurestore import FeatureStore
    from featurestore.feature_logging import FeatureLogger

    logged = 'logged = FeatureService(name="logged", features=[driver_stats], logging=FeatureLogging())\n'
    write_definitions(repo, "from featurestore import FeatureLogging\n" + DEFINITIONS + logged)
    materialized(repo)
    with FeatureStore(repo) as store:
        entities = {"driver_id": [1, 2]}
        response = store.get_online_features("logged", entities)
        served = {
            "features": list(response.statuses()),
            "values": response.to_dict(),
            "statuses": response.statuses(),
        }
        logger = FeatureLogger(store)
        logger.start()
        logger.log("logged", entities, None, served, time.time())
        logger.close()
    result = invoke(repo, "verify", "--from-log", str(repo / ".featurestore" / "feature_log"), "--json")
    no_difference = {"rows": 2, "mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    assert document(result) == [
        {
            "service": "logged",
            "feature": feature,
            "rows": 2,
            "matches": 2,
            "mismatches": 0,
            "missing": 0,
            "extra": 0,
            "mismatch_rate": 0.0,
            "missing_rate": 0.0,
            "extra_rate": 0.0,
            "smape": smape,
            "examples": [],
        }
        for feature, smape in (("driver_stats:rate", no_difference), ("driver_stats:last_trip", None))
    ]
