"""What the server tells its operators: /metrics (store reads, statuses, ages, freshness, reloads, the
feature log) and its logs (level, access log, JSON lines, one line per registry reload)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from featurestore.store import FILES_RECHECK
from tests.server.conftest import TOKEN, Served, Server, assert_clean_exit, start_server

LOGGED = {
    "feature_service": "ranking_logged",
    "entities": {"driver_id": [1001, 1002], "customer_id": [5001, 5002]},
    "request_data": {"quoted_fare": [10.0, 20.0], "distance_km": [2.0, 5.0]},
}
SAMPLE = re.compile(r"^([a-z_]+)\{([^}]*)\} (\S+)$")


def scrape(server: Server, token: str | None = TOKEN) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``/metrics`` as {(name, labels without worker): value}."""
    status, text, _ = server.request("GET", "/metrics", token=token)
    assert status == 200
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        labels = frozenset((k, v) for k, v in re.findall(r'(\w+)="([^"]*)"', match.group(2)) if k != "worker")
        out[(match.group(1), labels)] = float(match.group(3))
    return out


def value(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


def test_metric_names_follow_prometheus_conventions(server: Server) -> None:
    server.request("POST", "/online-features", {"features": ["driver_hourly_stats:conv_rate"],
                                                "entities": {"driver_id": [1001]}})  # fmt: skip
    _, text, _ = server.request("GET", "/metrics")
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert types, text
    for name, kind in types.items():
        assert name.startswith("featurestore_"), name
        if kind == "counter":
            assert name.endswith("_total"), name
        if kind == "histogram":
            assert name.endswith("_seconds"), name
    assert types["featurestore_online_store_read_duration_seconds"] == "histogram"
    assert types["featurestore_served_value_age_seconds"] == "histogram"
    assert types["featurestore_view_freshness_seconds"] == "gauge"


def test_store_reads_statuses_ages_and_freshness(server: Server, serving_template: Served) -> None:
    before = scrape(server)
    query = {"features": ["driver_hourly_stats:conv_rate", "customer_profile:tier"],
             "entities": {"driver_id": [1001, 1002, 999999], "customer_id": [5001, 5002, 5003]}}  # fmt: skip
    status, body, _ = server.request("POST", "/online-features", query)
    assert status == 200, body
    after = scrape(server)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("featurestore_online_store_read_duration_seconds_count") == 1
    view = "driver_hourly_stats"
    expected = {s: body["statuses"]["conv_rate"].count(s) for s in ("PRESENT", "NOT_FOUND", "EXPIRED")}
    assert expected["NOT_FOUND"] == 1
    for state, count in expected.items():
        assert delta("featurestore_online_values_total", view=view, status=state) == count, state
    present = expected["PRESENT"]
    assert delta("featurestore_served_value_age_seconds_count", view=view) == present
    # Every value was materialized at or before MATERIALIZED_AT (6 hours ago).
    age_sum = delta("featurestore_served_value_age_seconds_sum", view=view)
    assert age_sum / present >= 6 * 3600 - 60
    assert delta("featurestore_served_value_age_seconds_bucket", view=view, le="3600.0") == 0
    assert delta("featurestore_served_value_age_seconds_bucket", view=view, le="+Inf") == present
    freshness = value(after, "featurestore_view_freshness_seconds", view=view)
    expected_age = time.time() - serving_template.at.timestamp()
    assert abs(freshness - expected_age) < 120, (freshness, expected_age)


@dataclass
class Observed:
    served: Served
    server: Server


@pytest.fixture(scope="module")
def observed(serving_template: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    """A server with JSON logs and an access log, whose feature log folder cannot be written."""
    folder = tmp_path_factory.mktemp("observed")
    root = folder / "repo"
    shutil.copytree(serving_template.root, root)
    blocked = root / ".featurestore" / "feature_log" / "ranking_logged"
    blocked.parent.mkdir(parents=True, exist_ok=True)
    # A file where the folder should be: no write can succeed, also for root (unlike a chmod).
    blocked.write_text("not a folder")
    running = start_server(root, folder, "--log-format", "json", "--access-log")
    yield Observed(Served(root, serving_template.at), running)
    assert_clean_exit(running)


def test_feature_log_write_failures_are_counted(observed: Observed) -> None:
    for _ in range(3):
        status, body, _ = observed.server.request("POST", "/online-features", LOGGED)
        assert status == 200, body
    deadline = time.monotonic() + 12  # the writer flushes every 5 seconds
    while True:
        metrics = scrape(observed.server)
        failed = value(metrics, "featurestore_feature_log_rows_failed_total")
        if failed or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert failed == 6
    assert value(metrics, "featurestore_feature_log_rows_written_total") == 0
    assert value(metrics, "featurestore_feature_log_rows_dropped_total") == 0


def _log_lines(server: Server) -> list[dict[str, object]]:
    lines = server.log.read_text().splitlines()
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a log line is not JSON: {line!r}")
    return parsed


def test_json_logs_an_access_line_per_request_and_a_line_per_reload(observed: Observed) -> None:
    server = observed.server
    query = {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}}
    assert server.request("POST", "/online-features", query)[0] == 200
    before = value(scrape(server), "featurestore_registry_reloads_total")
    registry = observed.served.root / ".featurestore" / "registry.json"
    stamp = registry.stat().st_mtime_ns + 1_000_000_000
    os.utime(registry, ns=(stamp, stamp))  # what an apply does to the file, for the server
    time.sleep(FILES_RECHECK)  # the server looks at the registry file at most this often
    for _ in range(3):
        assert server.request("POST", "/online-features", query)[0] == 200
    assert value(scrape(server), "featurestore_registry_reloads_total") == before + 1
    time.sleep(0.2)
    lines = _log_lines(server)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines), lines[:3]
    access = [line for line in lines if line["logger"] == "featurestore.access"]
    posts = [line for line in access if line.get("path") == "/online-features"]
    assert len(posts) >= 4
    assert {"method", "path", "status", "duration_ms", "client"} <= set(posts[-1])
    assert posts[-1]["status"] == 200
    reloads = [line for line in lines if "registry reloaded" in str(line["message"])]
    assert len(reloads) == 1, reloads
    assert any("Application startup complete" in str(line["message"]) for line in lines)


def test_log_level_warning_keeps_info_lines_out(serving_repo: Served, tmp_path: Path) -> None:
    running = start_server(serving_repo.root, tmp_path, "--log-level", "warning", token=None)
    running.request("GET", "/health")
    running.process.send_signal(signal.SIGTERM)
    running.process.wait(timeout=20)
    text = running.log.read_text()
    assert "Application startup complete" not in text
    assert "INFO" not in text
    assert running.process.returncode in (0, -signal.SIGTERM)
