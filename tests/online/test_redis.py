"""Redis and Redis Cluster specifics: failures, passwords, URLs, routing and slot moves."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from featurestore.config import RedisClusterOnlineConfig, RedisOnlineConfig
from featurestore.errors import ConfigError, OnlineStoreError
from featurestore.online import compile_read_plan, open_online_store
from featurestore.online.keys import encode_key, redis_key
from featurestore.online.redis import RedisSettings
from tests.online.conftest import RedisClusterNodes, RedisServer, free_port
from tests.online.test_contract import batch, make_view

pytestmark = pytest.mark.redis
NOW = datetime.now(UTC)


def full_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


# -- unreachable servers ------------------------------------------------------------------------------


@pytest.mark.parametrize("config_type", [RedisOnlineConfig, RedisClusterOnlineConfig])
def test_server_down_is_a_clear_error_within_the_timeout(config_type: Any, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    config = config_type(url=f"redis://127.0.0.1:{port}/0", connect_timeout=0.5, read_timeout=0.5)
    store = open_online_store(config, tmp_path)  # connects lazily: opening never fails
    view = make_view("p")
    started = time.monotonic()
    with pytest.raises(
        OnlineStoreError, match=rf"cannot reach Redis at 127\.0\.0\.1:{port} .*server is running"
    ):
        store.read(compile_read_plan([(view, None)]), {"driver_id": [1]})
    with pytest.raises(OnlineStoreError, match=f"127.0.0.1:{port}"):
        store.write(view, batch(view, {"driver_id": [1]}, [NOW], rate=[1.0], trips=[1]))
    assert time.monotonic() - started < 3
    store.close()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_unresponsive_server_times_out(silent_server: int, tmp_path: Path) -> None:
    config = RedisOnlineConfig(
        url=f"redis://127.0.0.1:{silent_server}/0", connect_timeout=0.3, read_timeout=0.3
    )
    store = open_online_store(config, tmp_path)
    started = time.monotonic()
    with pytest.raises(OnlineStoreError, match=rf"127\.0\.0\.1:{silent_server} .*read timeout 0\.3s"):
        store.read(compile_read_plan([(make_view("p"), None)]), {"driver_id": [1]})
    assert time.monotonic() - started < 1.5
    store.close()


# -- passwords ----------------------------------------------------------------------------------------


def test_wrong_password_in_url_never_shows_it(redis_auth_server: RedisServer, tmp_path: Path) -> None:
    secret = "Wr0ng-secret-xyz"
    store = open_online_store(
        RedisOnlineConfig(url=f"redis://:{secret}@127.0.0.1:{redis_auth_server.port}/0"), tmp_path
    )
    with pytest.raises(OnlineStoreError, match="rejected the credentials") as info:
        store.read(compile_read_plan([(make_view("p"), None)]), {"driver_id": [1]})
    assert secret not in full_text(info.value)
    assert f"127.0.0.1:{redis_auth_server.port}" in str(info.value)
    store.close()


def test_password_from_environment(
    redis_auth_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"redis://:ignored-url-pass@127.0.0.1:{redis_auth_server.port}/0"
    config = RedisOnlineConfig(url=url, password_env="TEST_REDIS_PASSWORD")
    monkeypatch.setenv("TEST_REDIS_PASSWORD", "env-wrong-pass")
    store = open_online_store(config, tmp_path)
    with pytest.raises(OnlineStoreError, match=r"rejected the credentials .*\$TEST_REDIS_PASSWORD") as info:
        store.read(compile_read_plan([(make_view("p"), None)]), {"driver_id": [1]})
    assert "env-wrong-pass" not in full_text(info.value)
    store.close()

    assert redis_auth_server.password is not None
    monkeypatch.setenv("TEST_REDIS_PASSWORD", redis_auth_server.password)
    view = make_view("auth")
    with open_online_store(config, tmp_path) as good:  # type: ignore[attr-defined]
        assert good.write(view, batch(view, {"driver_id": [1]}, [NOW], rate=[1.0], trips=[1])) == 1

    monkeypatch.delenv("TEST_REDIS_PASSWORD")
    with pytest.raises(ConfigError, match=r"\$TEST_REDIS_PASSWORD, which is not set"):
        open_online_store(config, tmp_path)


def test_missing_password(redis_auth_server: RedisServer, tmp_path: Path) -> None:
    store = open_online_store(RedisOnlineConfig(url=redis_auth_server.url), tmp_path)
    with pytest.raises(OnlineStoreError, match="requires a password"):
        store.read(compile_read_plan([(make_view("p"), None)]), {"driver_id": [1]})
    store.close()


def test_settings_keep_the_password_out_of_the_url() -> None:
    settings = RedisSettings.from_config(
        "rediss://user:p%40ss@cache.example:6380/2?ssl_cert_reqs=none", None, 1, 2
    )
    assert settings.password == "p@ss"
    assert settings.url == "rediss://user@cache.example:6380/2?ssl_cert_reqs=none"
    assert settings.target == "cache.example:6380"
    assert settings.scrub("auth p@ss failed") == "auth *** failed"


def test_tls_url_uses_a_tls_connection(tmp_path: Path) -> None:
    store: Any = open_online_store(RedisOnlineConfig(url="rediss://localhost:6380/0"), tmp_path)
    assert store._client.connection_pool.connection_class.__name__ == "SSLConnection"
    store.close()


def test_import_does_not_load_redis() -> None:
    code = "import sys, featurestore.online; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- layout and cluster routing -----------------------------------------------------------------------


def test_keys_and_values_in_redis(redis_server: RedisServer, tmp_path: Path, project: str) -> None:
    import redis

    view = make_view(project)
    with open_online_store(RedisOnlineConfig(url=redis_server.url), tmp_path) as store:  # type: ignore[attr-defined]
        store.write(view, batch(view, {"driver_id": [42]}, [NOW], rate=[1.0], trips=[1]))
    raw = redis.Redis.from_url(redis_server.url)
    assert raw.exists(f"fs:{project}:drivers:v1:{{i42}}") == 1
    raw.close()


def test_cluster_slot_is_the_hash_tag_slot(redis_cluster: RedisClusterNodes) -> None:
    from redis.crc import key_slot as redis_slot

    from featurestore.online.redis_cluster import key_slot

    for values in [(1,), ("driver-1",), (7, "a|b"), ("{}",)]:
        encoded = encode_key(values)
        assert key_slot(encoded) == redis_slot(redis_key("p:v:1", encoded).encode())


def _move_slot(nodes: RedisClusterNodes, slot: int) -> None:
    """Migrate ``slot`` (and its keys) to another primary, as a resharding would."""
    import redis

    clients = [redis.Redis(port=s.port) for s in nodes.servers]
    try:
        ids = [c.execute_command("CLUSTER MYID").decode() for c in clients]
        owner = next(
            i for i, c in enumerate(clients) if c.execute_command("CLUSTER COUNTKEYSINSLOT", slot) > 0
        )
        target = (owner + 1) % len(clients)
        clients[target].execute_command("CLUSTER SETSLOT", slot, "IMPORTING", ids[owner])
        clients[owner].execute_command("CLUSTER SETSLOT", slot, "MIGRATING", ids[target])
        moved = clients[owner].execute_command("CLUSTER GETKEYSINSLOT", slot, 10_000)
        clients[owner].execute_command(
            "MIGRATE", "127.0.0.1", nodes.servers[target].port, "", 0, 5000, "KEYS", *moved
        )
        for c in clients:
            c.execute_command("CLUSTER SETSLOT", slot, "NODE", ids[target])
    finally:
        for c in clients:
            c.close()


def test_cluster_follows_a_moved_slot(redis_cluster: RedisClusterNodes, tmp_path: Path, project: str) -> None:
    from featurestore.online.redis_cluster import key_slot

    view = make_view(project)
    plan = compile_read_plan([(view, None)])
    entities = {"driver_id": [1, 2, 3]}
    store = open_online_store(RedisClusterOnlineConfig(url=redis_cluster.url), tmp_path)
    store.write(view, batch(view, entities, [NOW] * 3, rate=[1.0, 2.0, 3.0], trips=[1, 2, 3]))
    slot = key_slot(encode_key((1,)))

    _move_slot(redis_cluster, slot)  # the store's slot table is now stale
    [result] = store.read(plan, entities)
    assert result.column("trips").to_pylist() == [1, 2, 3]

    _move_slot(redis_cluster, slot)
    later = datetime.now(UTC)
    assert store.write(view, batch(view, entities, [later] * 3, rate=[4.0, 5.0, 6.0], trips=[4, 5, 6])) == 3
    [result] = store.read(plan, entities)
    assert result.column("trips").to_pylist() == [4, 5, 6]
    store.close()
