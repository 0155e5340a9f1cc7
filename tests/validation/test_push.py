"""Checks enforced at push: an error-severity violation writes nothing (online or push log) and raises
``ValidationError`` naming the view, the rule, the observed value and offending keys; warnings come back
with the result; over HTTP, an error answers 422 with the report."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from featurestore import FeatureStore
from featurestore.errors import ValidationError
from featurestore.server import create_app
from tests.pit_repo import make_repo

NOW = datetime.now(UTC).replace(microsecond=0)
DEFS = """
from featurestore import AllowedValues, Between, NotNull, RowCount
driver = Entity(name="driver", join_keys=["driver_id"])
stats = FeatureView(
    name="stats", entities=[driver], ttl=timedelta(days=3),
    source=FileSource(name="stats_src", path="data/stats.parquet"),
    checks=[RowCount(min=100)],
    features=[
        Feature("rate", "float64", checks=[Between(0, 1), NotNull(max_fraction=0.5, severity="warn")]),
        Feature("tier", "string", checks=[AllowedValues(["gold", "silver"])]),
    ],
)
"""
DATA = {
    "data/stats.parquet": {
        "driver_id": [1],
        "event_timestamp": [NOW - timedelta(hours=1)],
        "rate": [0.5],
        "tier": ["gold"],
    }
}


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    return make_repo(tmp_path, DEFS, DATA)


def rows(rates: list[float | None], tiers: list[str | None]) -> dict[str, list[Any]]:
    n = len(rates)
    return {
        "driver_id": list(range(1, n + 1)),
        "event_timestamp": [NOW] * n,
        "rate": rates,
        "tier": tiers,
    }


def log_files(store: FeatureStore) -> list[Path]:
    return sorted((store.root / ".featurestore" / "push_log").rglob("*.parquet"))


def test_an_error_writes_nothing_and_names_rule_value_and_keys(store: FeatureStore) -> None:
    with pytest.raises(ValidationError) as caught:
        store.push("stats", rows([0.2, 1.5, 3.0], ["gold", "XX", "gold"]), to="both")
    message = str(caught.value)
    assert "feature view 'stats' (" in message
    assert "Between(0, 1) on rate: max 3 (for example driver_id=2; driver_id=3)" in message
    assert (
        "AllowedValues(['gold', 'silver']) on tier: 1 value not allowed: 'XX' (for example driver_id=2)"
        in message
    )
    assert [v.rule for v in caught.value.report.errors] == [
        "Between(0, 1)",
        "AllowedValues(['gold', 'silver'])",
    ]
    assert log_files(store) == []
    online = store.get_online_features(["stats:rate"], {"driver_id": [1, 2, 3]}).to_dict()
    assert online["rate"] == [None, None, None]  # nothing materialized, nothing pushed


def test_warnings_are_returned_with_the_result(store: FeatureStore) -> None:
    result = store.push("stats", rows([0.2, None, None], ["gold", None, "silver"]), to="both")
    assert result.online_written == 3
    assert result.validation is not None
    assert [v.line() for v in result.validation.violations] == [
        "warn stats:rate NotNull(max_fraction=0.5): null fraction 0.667 (2 rows; driver_id=2; driver_id=3)"
    ]
    assert result.as_dict()["warnings"][0]["observed"] == "null fraction 0.667"
    assert len(log_files(store)) == 1


def call(app: Any, method: str, path: str, body: Any) -> tuple[int, Any]:
    """One request to the ASGI app, in process."""
    sent: list[dict[str, Any]] = []
    payload = json.dumps(body).encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [], "client": ("127.0.0.1", 1)}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"])


def test_http_push_answers_422_with_the_report(store: FeatureStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEATURESTORE_SERVER_TOKEN", raising=False)
    app = create_app(store.root)
    try:
        bad = {"view": "stats", "rows": rows([1.5], ["gold"]), "to": "online"}
        bad["rows"]["event_timestamp"] = [NOW.isoformat()]
        status, body = call(app, "POST", "/push", bad)
        assert status == 422, body
        assert body["error"]["type"] == "ValidationError"
        assert "Between(0, 1) on rate: max 1.5" in body["error"]["message"]
        assert body["report"]["ok"] is False
        assert body["report"]["violations"][0]["keys"] == [{"driver_id": 1}]
        good = {"view": "stats", "rows": rows([0.5], ["silver"]), "to": "online"}
        good["rows"]["event_timestamp"] = [NOW.isoformat()]
        status, body = call(app, "POST", "/push", good)
        assert status == 200, body
        assert body["online_written"] == 1
        assert "warnings" not in body
    finally:
        app.close()
