"""Checks enforced at materialize: an error stops that view's write (nothing online, watermark unchanged,
the run recorded as failed), the other views are written; a warning writes and reports."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from featurestore import FeatureStore
from tests.online.conftest import require_redis, start_redis
from tests.pit_repo import make_repo

H = timedelta(hours=1)
T = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - H
PRELUDE = "from featurestore import AllowedValues, Between, Freshness, NotNull, RowCount\n"
DEFS = (
    PRELUDE
    + """
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(
    name="stats", entities=[driver], ttl=timedelta(days=3),
    source=FileSource(name="stats_src", path="data/stats.parquet"),
    checks=[RowCount(min=2), Freshness(max_age=timedelta(hours=1), severity="warn")],
    features=[Feature("rate", "float64", checks=[Between(0, 1, severity="{severity}"), NotNull()])],
)
trips = FeatureView(
    name="trips", entities=[driver], ttl=timedelta(days=3),
    source=FileSource(name="trips_src", path="data/trips.parquet"),
    features=[Feature("trips", "int64", checks=[Between(min=0)])],
)
"""
)
DATA = {
    "data/stats.parquet": {
        "driver_id": [1, 1, 2, 3],
        "event_timestamp": [T - 3 * H, T - 2 * H, T - 3 * H, T - 4 * H],
        "rate": [0.1, 1.7, 0.5, 1.2],
    },
    "data/trips.parquet": {"driver_id": [1, 2], "event_timestamp": [T - H, T - H], "trips": [4, 5]},
}
KINDS = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_redis()
    server = start_redis(tmp_path_factory.mktemp("checks-redis"))
    yield server.url
    server.stop()


def repo(tmp_path: Path, kind: str, request: pytest.FixtureRequest, severity: str) -> FeatureStore:
    project = "c_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    online = (
        'type = "sqlite"'
        if kind == "sqlite"
        else f'type = "redis"\nurl = "{request.getfixturevalue("redis_url")}"'
    )
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "featurestore.toml").write_text(f'project = "{project}"\n\n[online]\n{online}\n')
    return make_repo(tmp_path, DEFS.replace("{severity}", severity), DATA)


@pytest.mark.parametrize("kind", KINDS)
def test_an_error_stops_the_view_and_the_others_are_written(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    store = repo(tmp_path, kind, request, "error")
    summary = store.materialize(end=T)
    stats, trips = summary.runs
    assert summary.stopped == ["stats"]
    assert stats.stopped
    assert stats.entities_written == 0
    assert stats.validation is not None
    assert [v.line() for v in stats.validation.violations] == [
        f"warn stats Freshness(max_age=1h): newest event {T - 2 * H:%Y-%m-%d %H:%M} (2 h before end)",
        "error stats:rate Between(0, 1): max 1.7 (2 rows; driver_id=1; driver_id=3)",
    ]
    assert "stopped by validation" in stats.notes[0]
    assert store.state.active("stats") is None or store.state.active("stats").watermark is None  # type: ignore[union-attr]
    assert not trips.stopped
    assert trips.entities_written == 2
    assert trips.validation is not None
    assert trips.validation.ok
    online = store.get_online_features(["stats:rate", "trips:trips"], {"driver_id": [1, 2, 3]})
    assert online.to_dict()["trips"] == [4, 5, None]
    assert online.to_dict()["rate"] == [None, None, None]
    if kind == "sqlite":
        with sqlite3.connect(tmp_path / ".featurestore" / "online.db") as conn:
            namespaces = {row[0] for row in conn.execute("SELECT DISTINCT namespace FROM online_values")}
        assert all(":trips:" in n for n in namespaces)


@pytest.mark.parametrize("kind", KINDS)
def test_a_warning_writes_and_reports(tmp_path: Path, kind: str, request: pytest.FixtureRequest) -> None:
    store = repo(tmp_path, kind, request, "warn")
    summary = store.materialize(end=T)
    stats = summary.runs[0]
    assert summary.stopped == []
    assert stats.entities_written == 3
    assert stats.validation is not None
    assert stats.validation.ok
    assert [v.rule for v in stats.validation.warnings] == ["Freshness(max_age=1h)", "Between(0, 1)"]
    assert any("validation: warn stats:rate Between(0, 1): max 1.7" in n for n in stats.notes)
    record = store.state.active("stats")
    assert record is not None
    assert record.watermark is not None
    assert record.watermark.event_time == T
    online = store.get_online_features(["stats:rate"], {"driver_id": [1, 2, 3]})
    assert online.to_dict()["rate"] == [1.7, 0.5, 1.2]


def test_a_stopped_view_keeps_its_watermark(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = repo(tmp_path, "sqlite", request, "error")
    good = DATA["data/stats.parquet"] | {"rate": [0.1, 0.7, 0.5, 0.2]}
    make_repo(tmp_path, DEFS.replace("{severity}", "error"), {"data/stats.parquet": good}, apply=False)
    assert store.materialize(end=T - H).stopped == []
    before = store.state.active("stats")
    assert before is not None
    assert before.watermark is not None
    make_repo(tmp_path, DEFS.replace("{severity}", "error"), DATA, apply=False)  # a bad batch lands
    summary = store.materialize_incremental(end=T)
    assert summary.stopped == ["stats"]
    after = store.state.active("stats")
    assert after is not None
    assert after.watermark == before.watermark
    assert store.get_online_features(["stats:rate"], {"driver_id": [1]}).to_dict()["rate"] == [0.7]
