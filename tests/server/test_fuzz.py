"""A few hundred malformed bodies: every answer is a 4xx with a JSON error, and the server stays up."""

from __future__ import annotations

import http.client
import json
import random
from collections.abc import Iterator
from typing import Any

from tests.server.conftest import TOKEN, Server

GOOD_ONLINE: dict[str, Any] = {
    "features": ["driver_hourly_stats:conv_rate"],
    "entities": {"driver_id": [1001, 1002]},
}
GOOD_PUSH: dict[str, Any] = {
    "view": "driver_hourly_stats",
    "rows": {
        "driver_id": [1001],
        "event_timestamp": ["2020-01-01T00:00:00Z"],
        "conv_rate": [0.5],
        "acc_rate": [0.5],
        "avg_daily_trips": [1],
    },
}
WEIRD: list[Any] = [
    None, True, False, 0, -1, 2**63, -(2**63) - 1, 2**80, 1.5, 1e308, "", "x", "1001",
    "driver_hourly_stats:*", [], [None], [[1]], [{}], {}, {"a": 1}, {"driver_id": 1}, [1.5], ["a", 1],
    [True], "\u0000", "é" * 50,
]  # fmt: skip


def _mutations(rng: random.Random) -> Iterator[tuple[str, bytes]]:
    good = json.dumps(GOOD_ONLINE).encode()
    # not JSON, or not an object
    for raw in (b"{", b"}", b"nul", b"[]", b"1", b'"s"', b"null", b"true", b"{'a': 1}", b"{\"a\": NaN}",
                b"[" * 5000 + b"]" * 5000, b"\xff\xfe\x00", b"{\"features\": }", b" ", b"\n\n"):  # fmt: skip
        yield "/online-features", raw
    for cut in range(1, len(good) - 1, 3):  # every truncation of a good body
        yield "/online-features", good[:cut]
    for _ in range(40):  # random bytes
        yield "/online-features", bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))
    # a good body with one field replaced by something of the wrong kind
    for field in ("features", "entities", "feature_service", "request_data", "full_feature_names",
                  "event_timestamps"):  # fmt: skip
        for value in WEIRD:
            body = dict(GOOD_ONLINE)
            if field == "feature_service":
                if value is None or (isinstance(value, str) and value):
                    continue  # null means absent; a well-formed unknown name is covered below (404)
                body[field] = value
            elif field in ("full_feature_names", "event_timestamps"):
                if isinstance(value, bool):
                    continue  # valid
                body[field] = value
            elif field == "request_data":
                if value is None or value == {}:
                    continue  # "no request data": valid
                body[field] = value
            else:
                body[field] = value
            yield "/online-features", json.dumps(body).encode()
    # join-key values of the wrong type
    for value in WEIRD:
        if type(value) is int and -(2**63) <= value < 2**63:
            continue  # a valid int key
        body = {**GOOD_ONLINE, "entities": {"driver_id": [value]}}
        yield "/online-features", json.dumps(body).encode()
    for name in ("nope", "driver_hourly_stats:", ":conv_rate", "a:b:c", "driver_hourly_stats:nope"):
        yield "/online-features", json.dumps({**GOOD_ONLINE, "features": [name]}).encode()
    yield "/online-features", json.dumps({**GOOD_ONLINE, "unknown": 1}).encode()
    # request data of on-demand features
    for value in WEIRD:
        if value is None or type(value) in (int, float):
            continue  # a number or a null is a valid float64 input
        body = {
            "feature_service": "ranking_logged",
            "entities": {"driver_id": [1001], "customer_id": [5001]},
            "request_data": {"quoted_fare": [value], "distance_km": [1.0]},
        }
        yield "/online-features", json.dumps(body).encode()
    yield "/online-features", json.dumps({"feature_service": "nope", "entities": {"driver_id": [1]}}).encode()
    # push bodies
    for field in ("view", "rows", "to"):
        for value in WEIRD:
            if field == "to" and value in ("online",):
                continue
            yield "/push", json.dumps({**GOOD_PUSH, field: value}).encode()
    for column in GOOD_PUSH["rows"]:
        for value in WEIRD:
            if column in ("driver_id", "avg_daily_trips") and type(value) is int and abs(value) < 2**63:
                continue  # a valid int
            if column in ("conv_rate", "acc_rate") and type(value) in (int, float):
                continue  # a valid number
            rows = {**GOOD_PUSH["rows"], column: [value]}
            if value is None and column in ("conv_rate", "acc_rate", "avg_daily_trips"):
                continue  # a null feature value is valid
            yield "/push", json.dumps({**GOOD_PUSH, "rows": rows}).encode()


def test_malformed_bodies_get_4xx_json_errors(server: Server) -> None:
    rng = random.Random(20261122)
    cases = list(_mutations(rng))
    assert len(cases) >= 300
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    try:
        for path, raw in cases:
            conn.request("POST", path, body=raw, headers=headers)
            response = conn.getresponse()
            data = response.read()
            assert 400 <= response.status < 500, (path, raw[:200], response.status, data[:500])
            assert response.getheader("content-type") == "application/json"
            error = json.loads(data)["error"]
            assert error["status"] == response.status
            assert isinstance(error["message"], str)
            assert error["message"]
    finally:
        conn.close()
    status, body, _ = server.request("POST", "/online-features", GOOD_ONLINE)
    assert status == 200, body
    status, text, _ = server.request("GET", "/metrics")
    assert 'code="500"' not in text
