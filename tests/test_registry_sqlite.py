"""A repo whose registry and state live in a SQLite file (``sqlite:rel/path.db``, relative to the repo):
apply, materialize and the command line's view of versions and runs, with nothing under .featurestore/
but the online store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from featurestore import FeatureStore
from featurestore.cli import cli


def test_a_sqlite_registry_end_to_end(example_repo_template: Path, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(example_repo_template, root)
    (root / "featurestore.toml").write_text('[registry]\nurl = "sqlite:shared/registry.db"\nhistory = 2\n')
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(cli, ["--repo", str(root), *args])
        assert result.exit_code == 0, result.output
        return result.output

    assert "Against registry version 0 (nothing applied yet)" in invoke("plan")
    invoke("apply", "--expect-version", "0")
    assert (root / "shared" / "registry.db").exists()
    assert not (root / ".featurestore" / "registry.json").exists()
    assert not (root / ".featurestore" / "state.json").exists()
    plan = json.loads(invoke("plan", "--json"))
    assert (plan["base_version"], plan["counts"]["added"]) == (1, 0)

    for _ in range(3):
        invoke("materialize", "--view", "driver_hourly_stats")
    document = json.loads(invoke("status", "--no-store", "--runs", "5", "--json"))
    runs = document["runs"]
    assert [run["view"] for run in runs] == ["driver_hourly_stats"] * 2  # history = 2 per view
    assert [run["outcome"] for run in runs] == ["complete", "complete"]
    assert all(run["rows_written"] == 30 for run in runs)  # the example repo's 30 drivers
    assert runs[0]["finished"] >= runs[1]["finished"]
    versions = {v["view"]: v["status"] for v in document["versions"]}
    assert versions["driver_hourly_stats"] == "active"
    assert "runs (newest first)" in invoke("status", "--no-store", "--runs", "1")

    with FeatureStore(root) as store:
        response = store.get_online_features(["driver_hourly_stats:avg_daily_trips"], [{"driver_id": 1001}])
        assert response.to_dict()["avg_daily_trips"][0] is not None
        assert [v.version for v in store.backend.history_versions()] == [1]
