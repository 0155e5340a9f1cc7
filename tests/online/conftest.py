"""Real Redis servers for the online-store tests, and the ``store`` fixture the contract runs over.

Session-scoped: one standalone ``redis-server``, one with ``--requirepass``, and one 3-node Redis Cluster,
each on free loopback ports in a temporary folder, with no persistence, killed at the end of the session.
Without a ``redis-server`` binary the Redis tests are skipped locally but fail when ``CI`` is set.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from featurestore.config import RedisClusterOnlineConfig, RedisOnlineConfig, SqliteOnlineConfig
from featurestore.online import OnlineStore, open_online_store

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
AUTH_PASSWORD = "s3cret-Pa55word"
STARTUP_TIMEOUT = 15.0


def require_redis() -> None:
    if REDIS_SERVER is None or REDIS_CLI is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server / redis-cli are not installed, but CI is set: the Redis tests must run")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, with_bus: bool = False) -> int:
    """A free loopback port; ``with_bus``: below 55536 and with ``port + 10000`` free (the cluster bus)."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        if _port_free(port) and (not with_bus or _port_free(port + 10000)):
            return port
    raise RuntimeError("no free loopback port found")


def _ask(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
        s.sendall(command)
        return s.recv(4096)


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    password: str | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_redis(folder: Path, *args: str, port: int | None = None) -> RedisServer:
    """Start ``redis-server`` on a free loopback port and wait until it answers ``PING``."""
    assert REDIS_SERVER is not None
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--logfile", str(folder / "redis.log"), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (folder / "redis.log").read_text() if (folder / "redis.log").exists() else ""
            raise RuntimeError(f"redis-server on port {port} exited: {log[-2000:]}")
        try:
            reply = _ask(port, b"PING\r\n")
        except OSError:
            time.sleep(0.02)
            continue
        if reply.startswith((b"+PONG", b"-NOAUTH")):
            return RedisServer(port, process)
        time.sleep(0.02)
    process.kill()
    raise RuntimeError(f"redis-server on port {port} did not answer PING within {STARTUP_TIMEOUT}s")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    require_redis()
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    require_redis()
    server = start_redis(tmp_path_factory.mktemp("redis-auth"), "--requirepass", AUTH_PASSWORD)
    server.password = AUTH_PASSWORD
    yield server
    server.stop()


@dataclass
class RedisClusterNodes:
    servers: list[RedisServer]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.servers[0].port}"


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    require_redis()
    assert REDIS_CLI is not None
    root = tmp_path_factory.mktemp("redis-cluster")
    servers: list[RedisServer] = []
    try:
        for i in range(3):
            port = free_port(with_bus=True)
            servers.append(
                start_redis(
                    root / f"node{i}",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(root / f"node{i}" / "nodes.conf"),
                    "--cluster-node-timeout",
                    "5000",
                    port=port,
                )
            )
        subprocess.run(
            [REDIS_CLI, "--cluster", "create", *(f"127.0.0.1:{s.port}" for s in servers),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not all(b"cluster_state:ok" in _ask(s.port, b"CLUSTER INFO\r\n") for s in servers):
            if time.monotonic() > deadline:
                raise RuntimeError("the test Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.05)
        yield RedisClusterNodes(servers)
    finally:
        for server in servers:
            server.stop()


# -- the store fixture the contract suite runs over ------------------------------------------------------

STORE_KINDS = [
    "sqlite",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("redis_cluster", marks=pytest.mark.redis),
]


@dataclass
class StoreUnderTest:
    kind: str
    store: OnlineStore
    project: str
    raw: Any = None
    """A redis-py client on the same server(s), to inspect keys (None for SQLite)."""


@pytest.fixture
def project(request: pytest.FixtureRequest) -> str:
    """A project name unique to the test, so tests sharing a server never see each other's keys."""
    return "t_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:12]


def _open_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path, project: str) -> StoreUnderTest:
    raw: Any = None
    if kind == "sqlite":
        store = open_online_store(SqliteOnlineConfig(path="online.db"), tmp_path)
    elif kind == "redis":
        import redis

        server: RedisServer = request.getfixturevalue("redis_server")
        store = open_online_store(RedisOnlineConfig(url=server.url), tmp_path)
        raw = redis.Redis.from_url(server.url)
    else:
        from redis.cluster import RedisCluster

        cluster: RedisClusterNodes = request.getfixturevalue("redis_cluster")
        store = open_online_store(RedisClusterOnlineConfig(url=cluster.url), tmp_path)
        raw = RedisCluster.from_url(cluster.url)
    return StoreUnderTest(kind, store, project, raw)


def _close(t: StoreUnderTest) -> None:
    t.store.close()
    if t.raw is not None:
        t.raw.close()


@pytest.fixture(params=STORE_KINDS)
def store_under_test(
    request: pytest.FixtureRequest, tmp_path: Path, project: str
) -> Iterator[StoreUnderTest]:
    """Each store of the contract, with a project name of its own."""
    t = _open_store(request.param, request, tmp_path, project)
    yield t
    _close(t)


@pytest.fixture(params=STORE_KINDS[1:])
def redis_store_under_test(
    request: pytest.FixtureRequest, tmp_path: Path, project: str
) -> Iterator[StoreUnderTest]:
    """The Redis stores only (standalone and cluster), with a raw client to inspect keys."""
    t = _open_store(request.param, request, tmp_path, project)
    yield t
    _close(t)


@pytest.fixture
def store(store_under_test: StoreUnderTest) -> OnlineStore:
    return store_under_test.store
