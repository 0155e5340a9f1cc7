"""`featurestore init`'s quickstart, run exactly as it is printed: values are live online."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from featurestore.cli import cli
from featurestore.cli.scaffold import scaffold


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_the_printed_quickstart_runs_and_serves_present_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("init", "my_repo")
    assert result.exit_code == 0, result.output
    hint = result.stdout.split("Next:\n", 1)[1]
    commands = [line.strip() for line in hint.splitlines() if line.strip()]
    assert commands[0] == "cd my_repo"
    assert [c.split()[1] for c in commands[1:]] == [
        "apply",
        "training-set",
        "materialize",
        "get-online",
        "verify",
    ]

    outputs = {}
    for command in commands:
        words = shlex.split(command)
        if words[0] == "cd":
            monkeypatch.chdir(words[1])
            continue
        assert words[0] == "featurestore"
        result = invoke(*words[1:])
        assert result.exit_code == 0, (command, result.output)
        outputs[words[1]] = result.stdout

    assert "Applied: 4 added." in outputs["apply"]
    assert "50 entities written" in " ".join(outputs["materialize"].split())
    assert "NOT_FOUND" not in outputs["get-online"]
    assert "EXPIRED" not in outputs["get-online"]
    assert "account_daily" in outputs["verify"]
    checks = json.loads(invoke("verify", "--json").stdout)
    assert [(c["view"], c["entities"], c["matches"], c["failures"]) for c in checks] == [
        ("account_daily", 50, 50, 0)
    ]

    # The same read as JSON: every value present, and equal to the last day's row of each account.
    result = invoke(
        "get-online",
        "--features",
        "fraud_model_v1",
        "--entity",
        "account_id=1",
        "--entity",
        "account_id=2",
        "--json",
    )
    assert result.exit_code == 0, result.output
    online = json.loads(result.stdout)
    assert online["statuses"] == {"balance": ["PRESENT", "PRESENT"], "logins": ["PRESENT", "PRESENT"]}
    data = pq.read_table("data/account_daily.parquet").to_pylist()
    latest = {
        a: max((r for r in data if r["account_id"] == a), key=lambda r: r["event_timestamp"]) for a in (1, 2)
    }
    assert online["values"] == {
        "account_id": [1, 2],
        "balance": [latest[1]["balance"], latest[2]["balance"]],
        "logins": [latest[1]["logins"], latest[2]["logins"]],
    }
    # And the training set gave every labelled row a value (each is within the 3-day ttl).
    assert "null" not in outputs["training-set"]


def test_the_scaffold_data_ends_just_before_now_and_is_otherwise_seeded(tmp_path: Path) -> None:
    now = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    scaffold(tmp_path / "a", now=now)
    scaffold(tmp_path / "b", now=now)
    a = pq.read_table(tmp_path / "a" / "data" / "account_daily.parquet")
    b = pq.read_table(tmp_path / "b" / "data" / "account_daily.parquet")
    assert a.equals(b)
    stamps = a.column("event_timestamp").to_pylist()
    # Daily rows for 7 days, the last one at 06:00 (the hour before the last full hour).
    assert sorted(set(stamps)) == [
        datetime(2031, 5, 6, 6, tzinfo=UTC) - timedelta(days=d) for d in range(6, -1, -1)
    ]
    assert max(a.column("created").to_pylist()) == datetime(2031, 5, 6, 6, 5, tzinfo=UTC)
    assert a.num_rows == 350
    # Another day: the same values, moved with the clock.
    later = scaffold(tmp_path / "c", now=now + timedelta(days=40))
    c = pq.read_table(tmp_path / "c" / "data" / "account_daily.parquet")
    assert c.drop(["event_timestamp", "created"]).equals(a.drop(["event_timestamp", "created"]))
    assert len(later) == 5
