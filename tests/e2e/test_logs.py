"""Logs: `--log-level` and `--log-format text|json` on the CLI, and one line per view per materialize run.

The repo: two views (materialized in name order) over one file (ttl None: nothing expires by the
wall clock), three rows of two drivers, one row with a null key.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from featurestore.cli import cli
from featurestore.logs import configure
from tests.pit_repo import make_repo, naive

DEFINITIONS = """
driver = Entity(name="driver", join_keys=["driver_id"])
source = FileSource(name="trips", path="data/trips.parquet", timestamp_field="event_timestamp")
rates = FeatureView(
    name="rates", entities=[driver], source=source, ttl=None, features=[Feature("rate", "float64")]
)
counts = FeatureView(
    name="counts", entities=[driver], source=source, ttl=None, features=[Feature("trips", "int64")]
)
"""

TRIPS = {
    "driver_id": [1, 1, 2, None],
    "event_timestamp": [
        naive(2024, 1, 1, 10),
        naive(2024, 1, 1, 11),
        naive(2024, 1, 1, 12),
        naive(2024, 1, 1, 12),
    ],
    "rate": [0.75, 0.5, 0.25, 0.1],
    "trips": [3, 4, 5, 6],
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    make_repo(root, DEFINITIONS, {"data/trips.parquet": TRIPS})
    return root


def invoke(repo: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--repo", str(repo), *args], env=env)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_materialize_logs_one_json_line_per_view(repo: Path) -> None:
    args = ("--log-format", "json", "--log-level", "info", "materialize", "--end", "2024-01-02", "--json")
    result = invoke(repo, *args)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)  # stdout is the summary alone: the log lines went to stderr
    lines = [line for line in json_lines(result.stderr) if line["logger"] == "featurestore.materialize"]
    assert [line["view"] for line in lines] == ["counts", "rates"]
    versions = {v["view"]: v["version"] for v in summary["views"]}
    for line in lines:
        assert line["level"] == "info"
        assert datetime.fromisoformat(line["time"]).utcoffset() is not None
        assert line["version"] == versions[line["view"]]
        fields = (
            "status",
            "mode",
            "rows_read",
            "rows_skipped",
            "rows_expired",
            "entities_written",
            "watermark",
        )
        assert {k: line[k] for k in fields} == {
            "status": "written",
            "mode": "full",
            "rows_read": 4,
            "rows_skipped": 1,  # the null key
            "rows_expired": 0,
            "entities_written": 2,
            "watermark": "2024-01-02T00:00:00+00:00",
        }
        assert 0 <= line["seconds"] < 60
        assert line["message"].startswith(
            f"materialized {line['view']} version {line['version']}: 4 rows read"
        )

    again = invoke(repo, *args[:4], "materialize-incremental", "--end", "2024-01-02")
    assert [(line["view"], line["mode"]) for line in json_lines(again.stderr)] == [
        ("counts", "incremental"),
        ("rates", "incremental"),
    ]


def test_the_default_level_keeps_materialize_quiet_and_text_lines_read_as_text(repo: Path) -> None:
    quiet = invoke(repo, "materialize", "--end", "2024-01-02", "--json")
    assert quiet.exit_code == 0
    assert "featurestore.materialize" not in quiet.stderr

    text = invoke(repo, "--log-level", "info", "materialize", "--end", "2024-01-02")
    (line,) = [
        line for line in text.stderr.splitlines() if "featurestore.materialize" in line and "rates" in line
    ]
    assert " INFO featurestore.materialize: materialized rates version " in line
    assert "watermark 2024-01-02T00:00:00+00:00" in line


def test_log_options_come_from_the_environment(repo: Path) -> None:
    env = {"FEATURESTORE_LOG_LEVEL": "info", "FEATURESTORE_LOG_FORMAT": "json"}
    result = invoke(repo, "materialize", "--end", "2024-01-02", env=env)
    assert result.exit_code == 0
    assert [line["view"] for line in json_lines(result.stderr)] == ["counts", "rates"]
    assert invoke(repo, "--log-level", "loud", "status").exit_code == 2  # one of debug/info/warning/error


def test_a_failed_view_is_logged_as_an_error(repo: Path) -> None:
    (repo / "data" / "trips.parquet").unlink()
    result = invoke(repo, "--log-format", "json", "materialize", "--end", "2024-01-02")
    assert result.exit_code == 1
    (line,) = json_lines(result.stderr)
    assert (line["level"], line["view"], line["status"], line["entities_written"]) == (
        "error",
        "counts",
        "failed",
        0,
    )
    assert "trips.parquet" in line["error"]
    assert line["watermark"] is None


def test_configure_writes_json_lines_with_the_record_fields() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("featurestore.tests.logs")
    configure("debug", "json", logger=logger.name, stream=stream)
    try:
        logger.debug("hello %s", "there", extra={"rows": 3, "at": naive(2024, 1, 1), "what": {1, 2}})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")
        configure("warning", "json", logger=logger.name, stream=stream)  # replaces, never duplicates
        logger.info("not shown")
        logger.warning("shown")
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
    first, second, third = (json.loads(line) for line in stream.getvalue().splitlines())
    assert set(first) == {"time", "level", "logger", "message", "rows", "at", "what"}
    assert (first["level"], first["logger"], first["message"]) == ("debug", logger.name, "hello there")
    assert (first["rows"], first["at"], first["what"]) == (3, "2024-01-01T00:00:00+00:00", "{1, 2}")
    assert second["level"] == "error"
    assert "ValueError: boom" in second["exception"]
    assert third["message"] == "shown"
