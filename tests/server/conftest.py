"""A served copy of the example repo: on-demand features, a logged feature service, and a real server.

``serving_template`` is the example repo plus ``definitions/serving.py`` (below), applied and materialized
into its embedded SQLite store at ``MATERIALIZED_AT``. ``serving_repo`` is a private copy per test.
``server`` runs ``featurestore serve`` as a separate process on a free loopback port (with a bearer token
and small limits), for the whole session; it is stopped with SIGTERM and must exit cleanly.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_example_repo

TOKEN = "test-token-0123456789"
MAX_ENTITIES = 50
MAX_BODY = 64 * 1024

SERVING_DEFINITIONS = '''
"""Request-time features and a logged feature service (test fixture)."""

import polars as pl

from definitions.customers import customer_profile
from definitions.drivers import driver_hourly_stats
from featurestore import Feature, FeatureLogging, FeatureService, RequestSource, on_demand_feature_view

ride_request = RequestSource(
    name="ride_request", fields=[Feature("quoted_fare", "float64"), Feature("distance_km", "float64")]
)


@on_demand_feature_view(
    sources=[ride_request, driver_hourly_stats[["conv_rate", "avg_daily_trips"]]],
    features=[
        Feature("fare_per_km", "float64"),
        Feature("expected_value", "float64"),
        Feature("busy", "bool"),
        Feature("trips_bucket", "string"),
    ],
)
def ride_value(inputs: pl.DataFrame) -> pl.DataFrame:
    return inputs.select(
        (pl.col("quoted_fare") / pl.col("distance_km")).alias("fare_per_km"),
        (pl.col("quoted_fare") * pl.col("conv_rate")).alias("expected_value"),
        (pl.col("avg_daily_trips") > 20).alias("busy"),
        pl.when(pl.col("avg_daily_trips") >= 30)
        .then(pl.lit("high"))
        .otherwise(pl.lit("low"))
        .alias("trips_bucket"),
    )


ranking_logged = FeatureService(
    name="ranking_logged",
    features=[driver_hourly_stats[["conv_rate", "acc_rate"]], customer_profile[["tier"]], ride_value],
    logging=FeatureLogging(sample_rate=1.0),
)
'''


def materialized_at() -> datetime:
    """Six hours ago, on the hour: the data ends there and is materialized up to there, so tests can push
    values newer than every source row without stamping them in the future (which is refused)."""
    return datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0) - timedelta(hours=6)


def build_serving_repo(target: Path) -> tuple[Path, datetime]:
    from featurestore import FeatureStore

    at = materialized_at()
    copy_example_repo(target, days=5, drivers=30, customers=100, rows=500, end=at)
    (target / "definitions" / "serving.py").write_text(SERVING_DEFINITIONS)
    with FeatureStore(target) as store:
        store.apply()
        store.materialize(end=at)
    return target, at


@dataclass(frozen=True)
class Served:
    root: Path
    at: datetime


@pytest.fixture(scope="session")
def serving_template(tmp_path_factory: pytest.TempPathFactory) -> Served:
    root, at = build_serving_repo(tmp_path_factory.mktemp("serving"))
    return Served(root, at)


@pytest.fixture
def serving_repo(serving_template: Served, tmp_path: Path) -> Served:
    """A private copy of the served repo (tests may push and log into it)."""
    target = tmp_path / "repo"
    shutil.copytree(serving_template.root, target)
    return Served(target, serving_template.at)


# -- the server process ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = TOKEN,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """One request on a fresh connection; the JSON body decoded (text for non-JSON answers)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            sent = raw if raw is not None else (None if body is None else json.dumps(body).encode())
            all_headers = dict(headers or {})
            if token is not None:
                all_headers["Authorization"] = f"Bearer {token}"
            conn.request(method, path, body=sent, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
            answer_headers = {k.lower(): v for k, v in response.getheaders()}
        finally:
            conn.close()
        if answer_headers.get("content-type", "").startswith("application/json"):
            return response.status, json.loads(data), answer_headers
        return response.status, data.decode(), answer_headers

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(
    root: Path, folder: Path, *extra: str, token: str | None = TOKEN, env_extra: dict[str, str] | None = None
) -> Server:
    port = free_port()
    log = folder / f"server-{port}.log"
    env = {k: v for k, v in os.environ.items() if k != "FEATURESTORE_SERVER_TOKEN"}
    env.update(env_extra or {})
    if token is not None:
        env["FEATURESTORE_SERVER_TOKEN"] = token
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "featurestore.cli", "--repo", str(root), "serve", "--port", str(port),
             "--max-entities", str(MAX_ENTITIES), "--max-body-bytes", str(MAX_BODY), *extra],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    server = Server(root, port, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited at startup: {log.read_text()[-3000:]}")
        try:
            status, _, _ = server.request("GET", "/health", token=None)
            if status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"the server did not answer /health within 60s: {log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def server(serving_template: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``featurestore serve`` on its own copy of the served repo, for the whole session."""
    folder = tmp_path_factory.mktemp("server")
    root = folder / "repo"
    shutil.copytree(serving_template.root, root)
    running = start_server(root, folder)
    yield running
    assert_clean_exit(running)


def assert_clean_exit(running: Server) -> None:
    """Stop with SIGTERM: uvicorn finishes in-flight requests, runs the lifespan shutdown, then re-raises
    the signal, so the process ends by SIGTERM (or 0) after a complete application shutdown."""
    code = running.stop()
    log = running.log.read_text()
    assert code in (0, -signal.SIGTERM), f"the server exited with {code}: {log[-3000:]}"
    assert "Application shutdown complete" in log, log[-3000:]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of this session's own, on a free loopback port."""
    from tests.online.conftest import require_redis, start_redis

    require_redis()
    redis = start_redis(tmp_path_factory.mktemp("server-redis"))
    yield redis.url
    redis.stop()
