"""The HTTP server as a client sees it: a real process on a loopback port, real requests."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from featurestore.config import ONLINE_URL_ENV
from tests.server.conftest import (
    MAX_BODY,
    MAX_ENTITIES,
    TOKEN,
    Served,
    Server,
    assert_clean_exit,
    start_server,
)

FEATURES = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips", "customer_profile:tier"]
ENTITIES = {"driver_id": [1001, 1002, 999999], "customer_id": [5001, 5002, 5003]}


def test_health_needs_no_token(server: Server) -> None:
    status, body, _ = server.request("GET", "/health", token=None)
    assert status == 200
    assert body["status"] == "ok"
    assert body["views"] == 4


def test_online_features_match_the_sdk(server: Server) -> None:
    status, body, headers = server.request(
        "POST", "/online-features", {"features": FEATURES, "entities": ENTITIES, "event_timestamps": True}
    )
    assert status == 200, body
    assert headers["content-type"] == "application/json"
    assert body["features"] == ["conv_rate", "avg_daily_trips", "tier"]
    with FeatureStore(server.root) as store:
        expected = store.get_online_features(FEATURES, ENTITIES)
        assert body["values"] == expected.to_dict()
        assert body["statuses"] == expected.statuses()
        stamps = {
            name: [None if t is None else t.isoformat() for t in times]
            for name, times in expected.event_timestamps().items()
        }
    assert body["event_timestamps"] == stamps
    assert body["statuses"]["conv_rate"][2] == "NOT_FOUND"
    assert body["values"]["conv_rate"][2] is None


def test_feature_service_full_names_and_on_demand(server: Server) -> None:
    status, body, _ = server.request(
        "POST",
        "/online-features",
        {
            "feature_service": "ranking_logged",
            "entities": {"driver_id": [1001, 1002], "customer_id": [5001, 5002]},
            "request_data": {"quoted_fare": [12.0, 30], "distance_km": [4.0, 10.0]},
            "full_feature_names": True,
        },
    )
    assert status == 200, body
    assert body["features"] == [
        "driver_hourly_stats__conv_rate",
        "driver_hourly_stats__acc_rate",
        "customer_profile__tier",
        "ride_value__fare_per_km",
        "ride_value__expected_value",
        "ride_value__busy",
        "ride_value__trips_bucket",
    ]
    values = body["values"]
    assert values["ride_value__fare_per_km"] == [3.0, 3.0]
    assert values["ride_value__expected_value"] == [
        12.0 * values["driver_hourly_stats__conv_rate"][0],
        30.0 * values["driver_hourly_stats__conv_rate"][1],
    ]
    assert body["statuses"]["ride_value__busy"] == ["PRESENT", "PRESENT"]


def _body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_client_mistakes_are_4xx_json(server: Server) -> None:
    one = FEATURES[:1]
    pair = {"driver_id": [1001], "customer_id": [5001]}
    svc = "ranking_logged"
    cases = [
        (b"{not json", 400, "malformed_json"),
        (b"", 400, "empty_body"),
        (b"[1, 2]", 400, "bad_request"),
        (
            _body(features=["driver_hourly_stats:conv_rat"], entities={"driver_id": [1]}),
            404,
            "UnknownFeatureError",
        ),
        (_body(features=["nope:x"], entities={"driver_id": [1]}), 404, "UnknownViewError"),
        (_body(feature_service="nope", entities={"driver_id": [1]}), 404, "UnknownServiceError"),
        (_body(features=one, entities={"driver_id": ["1001"]}), 422, "EntityRowsError"),
        (_body(features=one, entities={"driver_id": [1.5]}), 422, "EntityRowsError"),
        (_body(features=one, entities={"customer_id": [1]}), 422, "EntityRowsError"),
        (_body(features=one, entities={"driver_id": [1], "x": [1, 2]}), 400, "bad_request"),
        (_body(features=one, entitys={"driver_id": [1]}), 400, "bad_request"),
        (_body(features=one, entities={"driver_id": [1] * (MAX_ENTITIES + 1)}), 413, "too_many_entities"),
        (_body(feature_service=svc, entities=pair), 422, "EntityRowsError"),
        (
            _body(
                feature_service=svc, entities=pair, request_data={"quoted_fare": ["a"], "distance_km": [1.0]}
            ),
            422,
            "EntityRowsError",
        ),
        (_body(features=[one[0], one[0]], entities={"driver_id": [1]}), 422, "FeatureNameCollisionError"),
        (b"x" * (MAX_BODY + 1), 413, "body_too_large"),
    ]
    for raw, want, kind in cases:
        status, body, _ = server.request("POST", "/online-features", raw=raw)
        assert status == want, (raw[:100], body)
        assert body["error"]["type"] == kind, body
        assert body["error"]["status"] == want
        assert body["error"]["message"]
    status, body, headers = server.request("GET", "/online-features")
    assert status == 405
    assert headers["allow"] == "POST"
    status, body, _ = server.request("GET", "/nothing-here")
    assert status == 404
    assert body["error"]["type"] == "not_found"


def test_unknown_feature_message_comes_from_the_core(server: Server) -> None:
    _, body, _ = server.request(
        "POST",
        "/online-features",
        {"features": ["driver_hourly_stats:conv_rat"], "entities": {"driver_id": [1]}},
    )
    assert "Did you mean 'conv_rate'?" in body["error"]["message"]


def test_auth(server: Server) -> None:
    query = {"features": FEATURES[:1], "entities": {"driver_id": [1001]}}
    status, body, headers = server.request("POST", "/online-features", query, token=None)
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")
    status, body, _ = server.request("POST", "/online-features", query, token="wrong")
    assert status == 401
    assert body["error"]["message"] == "the bearer token is not valid"
    status, _, _ = server.request("GET", "/metrics", token=None)
    assert status == 401
    status, _, _ = server.request("POST", "/online-features", query)
    assert status == 200
    # The scheme is case-insensitive (RFC 7235); another scheme is refused.
    for scheme in ("bearer", "BEARER"):
        headers = {"Authorization": f"{scheme} {TOKEN}"}
        status, body, _ = server.request("POST", "/online-features", query, token=None, headers=headers)
        assert status == 200, (scheme, body)
    headers = {"Authorization": f"Basic {TOKEN}"}
    status, body, _ = server.request("POST", "/online-features", query, token=None, headers=headers)
    assert status == 401
    assert "Bearer scheme" in body["error"]["message"]


def test_metrics_and_openapi(server: Server) -> None:
    server.request("POST", "/online-features", {"features": FEATURES[:1], "entities": {"driver_id": [1001]}})
    server.request("POST", "/online-features", raw=b"{")
    status, text, headers = server.request("GET", "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    assert 'route="/online-features",code="200"' in text
    assert 'error="malformed_json"' in text
    assert "featurestore_http_request_duration_seconds_bucket" in text
    assert 'le="+Inf"' in text
    status, doc, _ = server.request("GET", "/openapi.json")
    assert status == 200
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) >= {"/online-features", "/push", "/health", "/ready", "/metrics"}
    assert doc["paths"]["/ready"]["get"]["security"] == []
    assert set(doc["paths"]["/ready"]["get"]["responses"]) == {"200", "503"}
    assert {"408", "503", "504"} <= set(doc["paths"]["/online-features"]["post"]["responses"])


def test_push_over_http_then_read(server: Server) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    row = {"driver_id": [1030], "event_timestamp": [now.isoformat()], "conv_rate": [0.4242],
           "acc_rate": [0.5], "avg_daily_trips": [3]}  # fmt: skip
    # A row stamped in the future would win over every real value until then: refused, nothing written.
    ahead = {**row, "event_timestamp": ["9000-01-01T00:00:00Z"], "conv_rate": [0.9]}
    status, body, _ = server.request("POST", "/push", {"view": "driver_hourly_stats", "rows": ahead})
    assert status == 422, body
    assert body["error"]["type"] == "FutureTimeError"
    assert "9000-01-01" in body["error"]["message"]
    status, body, _ = server.request(
        "POST", "/push", {"view": "driver_hourly_stats", "rows": row, "to": "both"}
    )
    assert status == 200, body
    assert body["online_written"] == 1
    _, got, _ = server.request(
        "POST", "/online-features", {"features": FEATURES[:1], "entities": {"driver_id": [1030]}}
    )
    assert got["values"]["conv_rate"] == [0.4242]
    # an older push never replaces the newer value (newer wins)
    older = {**row, "event_timestamp": [(now - timedelta(days=1)).isoformat()], "conv_rate": [0.1]}
    status, body, _ = server.request("POST", "/push", {"view": "driver_hourly_stats", "rows": older})
    assert status == 200
    assert body["online_written"] == 0
    _, got, _ = server.request(
        "POST", "/online-features", {"features": FEATURES[:1], "entities": {"driver_id": [1030]}}
    )
    assert got["values"]["conv_rate"] == [0.4242]
    bad = [
        ({"view": "nope", "rows": row}, 404),
        ({"view": "driver_hourly_stats", "rows": {**row, "conv_rate": ["high"]}}, 422),
        ({"view": "driver_hourly_stats", "rows": {**row, "extra": [1]}}, 422),
        ({"view": "driver_hourly_stats", "rows": {"driver_id": [1]}}, 422),
        ({"view": "driver_hourly_stats", "rows": {**row, "event_timestamp": ["yesterday"]}}, 422),
        ({"view": "driver_hourly_stats", "rows": row, "to": "everywhere"}, 400),
        ({"view": "driver_hourly_stats", "rows": []}, 400),
    ]
    for query, want in bad:
        status, body, _ = server.request("POST", "/push", query)
        assert status == want, (query, body)


def test_graceful_shutdown_flushes_the_feature_log(serving_repo: Served, tmp_path: Path) -> None:
    running = start_server(serving_repo.root, tmp_path, token=None)
    try:
        for i in range(5):
            status, body, _ = running.request(
                "POST",
                "/online-features",
                {
                    "feature_service": "ranking_logged",
                    "entities": {"driver_id": [1001 + i, 1010], "customer_id": [5001, 5002]},
                    "request_data": {"quoted_fare": [10.0, 20.0], "distance_km": [2.0, 5.0]},
                },
            )
            assert status == 200, body
    finally:
        assert_clean_exit(running)
    folder = serving_repo.root / ".featurestore" / "feature_log" / "ranking_logged"
    table = pq.read_table(folder)
    assert table.num_rows == 10
    assert table.column("driver_id").to_pylist()[:2] == [1001, 1010]
    assert table.column("__request_ts").type.tz == "UTC"
    assert table.column("__request_ts")[0].as_py() <= datetime.now(UTC)
    with FeatureStore(serving_repo.root) as store:
        checks = store.verify_log(folder)
    assert {c.feature for c in checks} >= {"ride_value:expected_value", "customer_profile:tier"}
    assert all(c.rows == 10 and c.mismatches == 0 for c in checks), [(c.feature, c.examples) for c in checks]


@pytest.mark.redis
def test_two_workers_on_redis(serving_repo: Served, tmp_path: Path, redis_url: str) -> None:
    """The production shape: worker processes sharing the socket, values in Redis."""
    env = {ONLINE_URL_ENV: redis_url}
    os.environ[ONLINE_URL_ENV] = redis_url
    try:
        with FeatureStore(serving_repo.root) as store:
            store.materialize(end=serving_repo.at)
            expected = store.get_online_features(FEATURES, ENTITIES)
            assert store.online_store.capabilities.name == "redis"
    finally:
        del os.environ[ONLINE_URL_ENV]
    running = start_server(serving_repo.root, tmp_path, "--workers", "2", token=None, env_extra=env)
    try:
        for _ in range(20):
            status, body, _ = running.request(
                "POST", "/online-features", {"features": FEATURES, "entities": ENTITIES}
            )
            assert status == 200, body
            assert body["values"] == expected.to_dict()
    finally:
        assert_clean_exit(running)


def test_a_chunked_body_over_the_limit_is_413(server: Server) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        chunks = (b"x" * 8192 for _ in range(MAX_BODY // 8192 + 2))
        conn.request(
            "POST",
            "/online-features",
            body=chunks,
            headers={"Authorization": f"Bearer {TOKEN}", "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        response = conn.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["error"]["type"] == "body_too_large"
    finally:
        conn.close()


def test_serve_refuses_a_repo_with_nothing_applied(example_repo: Path) -> None:
    from click.testing import CliRunner

    from featurestore.cli import cli

    result = CliRunner().invoke(cli, ["--repo", str(example_repo), "serve", "--port", "1"])
    assert result.exit_code == 1
    assert "nothing is applied" in result.stderr
