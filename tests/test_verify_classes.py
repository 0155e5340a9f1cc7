"""`verify` classifies every sampled entity: match, mismatch, missing, expired, newer online; and every
view: checked, not materialized, future watermark. Hand-checked data, over SQLite and a real Redis.

The view ``stats`` has ttl = 1 day and is materialized up to ``T = now - 2h``. Per driver (times relative
to ``T``; "expired" means event time + 1 day is before the wall clock, ``T + 2h``):

    driver  source rows           at T (offline)   online, after the steps below     class
    1       T-30m rate 0.1        T-30m, 0.1       T-30m, 0.1                        match
    2       T-30m rate 0.2        T-30m, 0.2       T-30m, 9.9 (overwritten)          mismatch
    3       T-30m rate 0.3        T-30m, 0.3       deleted -> NOT_FOUND              missing
    4       T-23h rate 0.4        T-23h, 0.4       never written (expired at write)  expired
    5       T-23h30m rate 0.5     T-23h30m, 0.5    never written (expired at write)  expired
    6       T-1h rate 0.6         T-1h, 0.6        T+1h, 6.6 (pushed after T)        newer online
    7       T+30m rate 0.7        nothing          nothing (after T)                 match
    8       T-2d rate 0.8         nothing (> ttl)  nothing (expired)                 match

``never`` is never materialized; ``ahead`` has a watermark a day in the future.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner

from featurestore import FeatureStore
from featurestore.cli import cli
from featurestore.online import EVENT_TS, keys
from featurestore.registry.state import Watermark
from featurestore.verify import ViewCheck
from featurestore.versions import begin_run, finish_run
from tests.online.conftest import require_redis, start_redis
from tests.pit_repo import make_repo

DEFS = """
driver = Entity(name="driver", join_keys=["driver_id"])
src = FileSource(name="stats", path="data/stats.parquet", timestamp_field="event_timestamp")
stats = FeatureView(name="stats", entities=[driver], source=src, ttl=timedelta(days=1),
                    features=[Feature("rate", "float64")])
never = FeatureView(name="never", entities=[driver], source=src, ttl=None,
                    features=[Feature("rate", "float64")])
ahead = FeatureView(name="ahead", entities=[driver], source=src, ttl=None,
                    features=[Feature("rate", "float64")])
"""

H = timedelta(hours=1)
CLOCK_SKEW = timedelta(minutes=5)  # [materialize] clock_skew by default
FIX_AHEAD = "featurestore materialize --overwrite --end now --view ahead"
KINDS = ["sqlite", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_redis()
    server = start_redis(tmp_path_factory.mktemp("verify-redis"))
    yield server.url
    server.stop()


def _config(kind: str, request: pytest.FixtureRequest) -> str:
    project = "v_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:10]
    text = f'project = "{project}"\n\n[online]\n'
    if kind == "sqlite":
        return text + 'type = "sqlite"\n'
    return text + f'type = "redis"\nurl = "{request.getfixturevalue("redis_url")}"\n'


def _write(store: FeatureStore, rows: dict[str, list[Any]], event: datetime) -> None:
    """Write through the online store API, as a buggy writer would (same event time: it replaces)."""
    view = store.served_views()["stats"].current
    n = len(rows["driver_id"])
    batch = pa.table({**rows, EVENT_TS: pa.array([event] * n, pa.timestamp("us", tz="UTC"))})
    assert store.online_store.write(view, batch) == n


def _delete(store: FeatureStore, kind: str, driver_id: int) -> None:
    view = store.served_views()["stats"].current
    key = keys.encode_key((driver_id,))
    if kind == "sqlite":
        with sqlite3.connect(store.root / ".featurestore" / "online.db") as conn:
            deleted = conn.execute(
                "DELETE FROM online_values WHERE namespace = ? AND entity_key = ?", (view.namespace, key)
            ).rowcount
    else:
        import redis

        client = redis.Redis.from_url(store.config.online.url)
        deleted = client.delete(keys.redis_key(view.namespace, key))
        client.close()
    assert deleted == 1


@dataclass
class Repo:
    store: FeatureStore
    kind: str
    at: datetime  # the watermark of ``stats``
    ahead: datetime  # the watermark of ``ahead``, a day from now


@pytest.fixture(params=KINDS)
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repo]:
    kind: str = request.param
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    t = now - 2 * H
    events = [t - H / 2, t - H / 2, t - H / 2, t - 23 * H, t - 23.5 * H, t - H, t + H / 2, t - 48 * H]
    (tmp_path / "featurestore.toml").write_text(_config(kind, request))
    data = {
        "driver_id": list(range(1, 9)),
        "event_timestamp": events,
        "rate": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
    }
    store = make_repo(tmp_path, DEFS, {"data/stats.parquet": data})
    run = store.materialize(end=t, views=["stats"]).runs[0]
    assert run.entities_written == 4  # drivers 1, 2, 3 and 6; 4 and 5 expired by the wall clock

    store.push("stats", [{"driver_id": 6, "event_timestamp": t + H, "rate": 6.6}], to="online")
    _write(store, {"driver_id": [2], "rate": [9.9]}, t - H / 2)
    _delete(store, kind, 3)
    ahead = now + timedelta(days=1)
    # A watermark in the future, as a run before end times were bounded could leave it.
    target = begin_run(store.state, store.registry.project, store.registry.view("ahead"), rebuild=False)
    finish_run(store.state, target, Watermark(target.record.version, ahead, None, now, 0))
    yield Repo(store, kind, t, ahead)
    store.close()


def _counts(c: ViewCheck) -> tuple[Any, ...]:
    return (c.status, c.entities, c.matches, c.mismatches, c.missing, c.expired, c.newer_online, c.failures)


def test_every_entity_and_every_view_is_classified(repo: Repo) -> None:
    checks = {c.view: c for c in repo.store.verify(sample=None)}
    assert sorted(checks) == ["ahead", "never", "stats"]

    stats = checks["stats"]
    assert stats.at == repo.at
    assert _counts(stats) == ("checked", 8, 3, 1, 1, 2, 1, 2)
    assert stats.fix is None
    t = repo.at
    examples = sorted(stats.examples, key=lambda e: e["kind"])
    assert [(e["kind"], e["key"], e["online"], e["offline"]) for e in examples] == [
        ("mismatch", {"driver_id": 2}, {"rate": 9.9}, {"rate": 0.2}),
        ("missing", {"driver_id": 3}, {"rate": None}, {"rate": 0.3}),
    ]
    by_kind = {e["kind"]: e for e in stats.examples}
    assert by_kind["mismatch"]["online_event_time"] == by_kind["mismatch"]["offline_event_time"] == t - H / 2
    assert by_kind["missing"]["online_event_time"] is None

    # Without driver 6's pushed value, its row at T (still valid) is missing online.
    _delete(repo.store, repo.kind, 6)
    again = {c.view: c for c in repo.store.verify(sample=None, views=["stats"])}
    assert _counts(again["stats"]) == ("checked", 8, 3, 1, 2, 2, 0, 3)

    never = checks["never"]
    assert never.at is None
    assert _counts(never) == ("not_materialized", 0, 0, 0, 0, 0, 0, 0)
    assert never.fix == "featurestore materialize --view never"

    ahead = checks["ahead"]
    assert ahead.at == repo.ahead > datetime.now(UTC).replace(tzinfo=None) + CLOCK_SKEW
    assert _counts(ahead) == ("future_watermark", 0, 0, 0, 0, 0, 0, 0)
    assert ahead.fix == FIX_AHEAD


def _iso(value: datetime) -> str:
    return value.replace(tzinfo=UTC).isoformat()


def test_the_cli_prints_json_and_exits_1_only_on_failures(repo: Repo) -> None:
    root = str(repo.store.root)
    result = CliRunner().invoke(cli, ["--repo", root, "verify", "--sample", "0", "--json"])
    assert result.exit_code == 1, result.output
    views = sorted(json.loads(result.stdout), key=lambda v: v["view"], reverse=True)
    for view in views:
        view["examples"] = sorted((e["kind"], e["key"]["driver_id"]) for e in view["examples"])
    counts = {"entities": 0, "matches": 0, "mismatches": 0, "missing": 0, "expired": 0, "newer_online": 0}
    assert views == [
        {
            "view": "stats",
            "at": _iso(repo.at),
            "status": "checked",
            "entities": 8,
            "matches": 3,
            "mismatches": 1,
            "missing": 1,
            "expired": 2,
            "newer_online": 1,
            "failures": 2,
            "fix": None,
            "examples": [("mismatch", 2), ("missing", 3)],
        },
        {
            "view": "never",
            "at": None,
            "status": "not_materialized",
            **counts,
            "failures": 0,
            "fix": "featurestore materialize --view never",
            "examples": [],
        },
        {
            "view": "ahead",
            "at": _iso(repo.ahead),
            "status": "future_watermark",
            **counts,
            "failures": 0,
            "fix": FIX_AHEAD,
            "examples": [],
        },
    ]

    result = CliRunner().invoke(cli, ["--repo", root, "verify", "--sample", "0"])
    assert result.exit_code == 1, result.output
    assert FIX_AHEAD in result.stdout
    for word in ("stats", "never", "ahead", "mismatch", "missing", "expired", "status"):
        assert word in result.stdout

    # Rewriting the view up to T repairs drivers 2 and 3; 4 and 5 stay expired, 6 stays newer (newer
    # wins). The unmaterialized view is listed and fails nothing; the future watermark still fails.
    repo.store.materialize(end=repo.at, views=["stats"])
    result = CliRunner().invoke(cli, ["--repo", root, "verify", "--sample", "0", "--json"])
    assert result.exit_code == 1, result.output
    by_view = {v["view"]: v for v in json.loads(result.stdout)}
    stats = by_view["stats"]
    classes = ("matches", "mismatches", "missing", "expired", "newer_online", "failures")
    assert [stats[c] for c in classes] == [5, 0, 0, 2, 1, 0]
    assert by_view["never"]["status"] == "not_materialized"
    assert by_view["ahead"]["status"] == "future_watermark"
    result = CliRunner().invoke(cli, ["--repo", root, "verify", "--sample", "0", "--view", "stats"])
    assert result.exit_code == 0, result.output
