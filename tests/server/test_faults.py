"""The server while Redis fails: restarts and pauses under load, deadlines, liveness and readiness.

Each test runs its own Redis (it restarts and pauses it) and its own server over a copy of the served repo
whose values were materialized into that Redis.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from featurestore import FeatureStore
from tests.online.test_redis_faults import Target
from tests.server.conftest import Served, Server, assert_clean_exit, start_server
from tests.server.test_observability import scrape, value

pytestmark = pytest.mark.redis
QUERY = {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001, 1002]}}
TIMEOUT = 0.5
"""Redis connect and read timeout of the served repo (seconds)."""


@dataclass
class RedisRepo:
    root: Path
    redis: Target


@pytest.fixture
def redis_target(tmp_path: Path) -> Iterator[Target]:
    """A private Redis, stopped after the test whatever happens to it."""
    from tests.online.conftest import free_port, require_redis

    require_redis()
    redis = Target("redis", tmp_path / "redis", free_port())
    redis.start()
    yield redis
    redis.stop()


def redis_repo(served: Served, redis: Target, *, read_timeout: float = TIMEOUT) -> RedisRepo:
    """``served`` switched to the private Redis ``redis`` (its values materialized there)."""
    (served.root / "featurestore.toml").write_text(
        f'[online]\ntype = "redis"\nurl = "{redis.url}"\n'
        f"connect_timeout = {TIMEOUT}\nread_timeout = {read_timeout}\n"
    )
    with FeatureStore(served.root) as store:
        store.materialize(end=served.at)
    return RedisRepo(served.root, redis)


@pytest.fixture
def on_redis(serving_repo: Served, redis_target: Target) -> RedisRepo:
    return redis_repo(serving_repo, redis_target)


@dataclass
class HttpLoad:
    """Clients on keep-alive connections posting ``QUERY`` back to back: (start, end, status, body)."""

    server: Server
    clients: int = 4
    outcomes: list[tuple[float, float, int, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> HttpLoad:
        for _ in range(self.clients):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _run(self) -> None:
        body = json.dumps(QUERY).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                conn.request("POST", "/online-features", body=body)
                response = conn.getresponse()
                data = response.read()
                status = response.status
                answer = (
                    json.loads(data) if response.getheader("content-type") == "application/json" else data
                )
            except (OSError, http.client.HTTPException) as exc:  # a dropped connection is an error too
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
                status, answer = 0, repr(exc)
            self.outcomes.append((began, time.monotonic(), status, answer))
            time.sleep(0.002)
        conn.close()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        assert not any(t.is_alive() for t in self._threads), "a request hung"

    def failed(self, since: float = 0.0, until: float = float("inf")) -> list[tuple[int, Any]]:
        return [(s, a) for began, _, s, a in self.outcomes if s != 200 and since <= began < until]

    def served(self, since: float) -> int:
        return sum(1 for began, _, s, _ in self.outcomes if s == 200 and began >= since)


def test_two_workers_recover_from_a_redis_restart(on_redis: RedisRepo, tmp_path: Path) -> None:
    server = start_server(on_redis.root, tmp_path, "--workers", "2", token=None)
    try:
        with HttpLoad(server) as load:
            time.sleep(0.5)
            stopped = time.monotonic()
            on_redis.redis.stop()
            time.sleep(1.0)  # hundreds of failed reads per worker
            on_redis.redis.start()
            back = time.monotonic()
            time.sleep(TIMEOUT + 1.5)
    finally:
        assert_clean_exit(server)
    assert not load.failed(until=stopped - 0.1)
    failed = load.failed(since=stopped - 0.1)
    assert failed, "no request noticed the outage"
    # Failures are JSON errors of the store being unavailable, never a dropped connection or a 500.
    for status, answer in failed:
        assert status in (503, 504), (status, answer)
        assert answer["error"]["type"].startswith("OnlineStore"), answer
    assert not load.failed(since=back + TIMEOUT), load.failed(since=back + TIMEOUT)[:3]
    assert load.served(since=back + TIMEOUT) > 20
    # Connections kept from before the restart are replaced on first use, without failing the read.
    assert len(load.failed(since=back)) <= load.clients, load.failed(since=back)[:3]


def test_a_paused_redis_never_stalls_the_server(
    serving_repo: Served, redis_target: Target, tmp_path: Path
) -> None:
    """One worker, Redis paused: a read waits until its deadline (504) without holding the event loop;
    meanwhile /health and requests that need no Redis are answered at once."""
    repo = redis_repo(serving_repo, redis_target, read_timeout=3.0)
    server = start_server(repo.root, tmp_path, "--request-timeout", "0.4", token=None)
    try:
        assert server.request("POST", "/online-features", QUERY)[0] == 200
        repo.redis.pause(2.5)
        slow: dict[str, Any] = {}

        def ask() -> None:
            began = time.monotonic()
            slow["answer"] = server.request("POST", "/online-features", QUERY)
            slow["seconds"] = time.monotonic() - began

        thread = threading.Thread(target=ask)
        thread.start()
        time.sleep(0.1)  # the slow request is in flight
        for _ in range(3):
            began = time.monotonic()
            status, body, _ = server.request("GET", "/health")
            assert status == 200, body
            assert time.monotonic() - began < 0.1
        began = time.monotonic()
        status, body, _ = server.request(
            "POST", "/online-features", {"features": ["nope:x"], "entities": {"driver_id": [1]}}
        )
        assert status == 404
        assert time.monotonic() - began < 0.1
        thread.join(timeout=10)
        status, body, headers = slow["answer"]
        assert status == 504, body
        assert headers["content-type"] == "application/json"
        assert body["error"]["type"] == "OnlineStoreTimeoutError"
        assert "0.4s" in body["error"]["message"]
        assert 0.35 < slow["seconds"] < 1.0
        time.sleep(2.5)  # the pause is over
        assert server.request("POST", "/online-features", QUERY)[0] == 200
    finally:
        assert_clean_exit(server)


def test_pause_under_load_is_bounded(on_redis: RedisRepo, tmp_path: Path) -> None:
    server = start_server(on_redis.root, tmp_path, "--workers", "2", "--request-timeout", "1", token=None)
    pause = 2.0
    try:
        with HttpLoad(server) as load:
            time.sleep(0.5)
            paused = time.monotonic()
            on_redis.redis.pause(pause)
            time.sleep(pause + TIMEOUT + 1.5)
    finally:
        assert_clean_exit(server)
    resumed = paused + pause
    failed = load.failed(since=paused)
    assert failed, "no request noticed the pause"
    assert all(status in (503, 504) for status, _ in failed), failed[:3]
    # A client waits at most about one timeout per request, so each client fails a bounded number of times.
    assert len(failed) <= load.clients * (pause / TIMEOUT + 2), len(failed)
    assert not load.failed(since=resumed + TIMEOUT), load.failed(since=resumed + TIMEOUT)[:3]
    assert load.served(since=resumed + TIMEOUT) > 20
    assert max(end - began for began, end, _, _ in load.outcomes) < 2 * TIMEOUT + 1


def test_health_is_liveness_and_ready_is_readiness(on_redis: RedisRepo, tmp_path: Path) -> None:
    server = start_server(on_redis.root, tmp_path, token="t0ken")
    try:
        status, body, _ = server.request("GET", "/ready", token=None)
        assert status == 200, body
        assert body["status"] == "ready"
        assert body["online_store"] == "redis"
        assert server.request("POST", "/online-features", QUERY, token="t0ken")[0] == 200
        on_redis.redis.pause(3.0)
        began = time.monotonic()
        status, body, headers = server.request("GET", "/ready", token=None)
        assert status == 503, body
        assert headers["content-type"] == "application/json"
        assert body["error"]["type"] == "OnlineStoreTimeoutError"
        assert time.monotonic() - began < 2.0
        assert server.request("GET", "/health", token=None)[0] == 200
        status, body, _ = server.request("POST", "/online-features", QUERY, token="t0ken")
        assert (status, body["error"]["type"]) == (504, "OnlineStoreTimeoutError"), body
        on_redis.redis.stop()
        status, body, _ = server.request("GET", "/ready", token=None)
        assert status == 503
        assert body["error"]["type"].startswith("OnlineStore")
        assert f"127.0.0.1:{on_redis.redis.port}" in body["error"]["message"]
        status, body, _ = server.request("POST", "/online-features", QUERY, token="t0ken")
        assert (status, body["error"]["type"]) == (503, "OnlineStoreError"), body
        metrics = scrape(server, token="t0ken")
        for kind in ("OnlineStoreTimeoutError", "OnlineStoreError"):
            assert value(metrics, "featurestore_online_store_errors_total", error=kind) == 1, kind
        assert value(metrics, "featurestore_online_store_read_duration_seconds_count") == 3
        status, body, _ = server.request("GET", "/health", token=None)
        assert status == 200
        assert body["status"] == "ok"
        on_redis.redis.start()
        deadline = time.monotonic() + 5
        while server.request("GET", "/ready", token=None)[0] != 200:
            assert time.monotonic() < deadline, "never ready again"
            time.sleep(0.1)
    finally:
        assert_clean_exit(server)
