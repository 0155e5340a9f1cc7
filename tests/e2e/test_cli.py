"""The CLI over the example repo, end to end, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from featurestore.cli import cli


def run(repo: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--repo", str(repo), *args])
    return result.exit_code, result.stdout, result.stderr


def test_apply_list_describe_training_set(example_repo: Path, tmp_path: Path) -> None:
    code, out, _ = run(example_repo, "plan")
    assert code == 0
    assert "driver_hourly_stats" in out
    assert "featurestore apply" in out
    code, out, _ = run(example_repo, "apply")
    assert code == 0
    assert "Applied" in out
    code, out, _ = run(example_repo, "apply")
    assert code == 0
    assert "No changes" in out
    code, out, _ = run(example_repo, "list", "services")
    assert code == 0
    assert "driver_ranking_v1" in out
    code, out, _ = run(example_repo, "describe", "driver_customer_stats")
    assert code == 0
    assert '"join_keys"' in out
    assert "customer_id" in out

    target = tmp_path / "ts.parquet"
    code, out, _ = run(
        example_repo,
        "training-set",
        "--entities",
        str(example_repo / "data/entity_rows.parquet"),
        "--features",
        "driver_ranking_v1",
        "--out",
        str(target),
    )
    assert code == 0, out
    table = pq.read_table(target)
    rows = pq.read_table(example_repo / "data/entity_rows.parquet")
    assert table.num_rows == rows.num_rows
    assert table.column("request_id").to_pylist() == rows.column("request_id").to_pylist()
    assert table.column_names[-6:] == [
        "conv_rate",
        "acc_rate",
        "current_balance",
        "tier",
        "trips_together",
        "avg_rating_given",
    ]
    assert table.column("conv_rate").null_count < table.num_rows

    code, out, _ = run(
        example_repo,
        "training-set",
        "--entities",
        str(example_repo / "data/entity_rows.parquet"),
        "--features",
        "driver_hourly_stats:conv_rate",
        "--explain",
    )
    assert code == 0
    assert "ASOF LEFT JOIN" in out
    assert "PointInTimeJoin" in out


def test_user_errors_are_one_red_line_and_exit_1(example_repo: Path) -> None:
    run(example_repo, "apply")
    code, _, err = run(
        example_repo,
        "training-set",
        "--entities",
        str(example_repo / "data/entity_rows.parquet"),
        "--features",
        "driver_hourly_stats:conv_rat",
    )
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "UnknownFeatureError" in lines[0]
    assert "Did you mean 'conv_rate'" in lines[0]
    assert "Traceback" not in err
    code, _, err = run(example_repo, "describe", "driver_hourly_stat")
    assert code == 1
    assert "driver_hourly_stats" in err


def test_debug_shows_the_traceback(example_repo: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "featurestore.cli", "--repo", str(example_repo), "--debug", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr
    assert "RegistryError" in proc.stderr


def test_init_scaffolds_a_working_repo(tmp_path: Path) -> None:
    repo = tmp_path / "starter"
    code, out, _ = CliRunner().invoke(cli, ["init", str(repo)]).exit_code, "", ""
    assert code == 0
    code, out, _ = run(repo, "apply")
    assert code == 0
    assert "account_daily" in out
    code, out, _ = run(
        repo,
        "training-set",
        "--entities",
        "SELECT 7 AS account_id, TIMESTAMP '2026-01-05 12:00:00' AS event_timestamp",
        "--features",
        "fraud_model_v1",
    )
    assert code == 0
    assert "balance" in out
    code, _, err = run(repo.parent, "init", str(repo))
    assert code == 1
    assert "already exists" in err


def test_help_teaches_with_examples() -> None:
    for command in ("plan", "apply", "training-set", "init", "list", "describe"):
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0
        assert "Example" in result.stdout, command
