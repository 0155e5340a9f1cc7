"""Redis faults seen from the SDK: a server restarted on the same port, or paused with ``CLIENT PAUSE``.

Each test runs its own Redis (standalone, or a one-node cluster holding every slot) so it can stop,
restart and pause it without disturbing the session's servers. Reads must fail within the configured
timeout while Redis is away, and recover by themselves within one timeout once it is back, however
many reads failed before: a process is never left broken by an outage it outlived.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from featurestore.config import RedisClusterOnlineConfig, RedisOnlineConfig
from featurestore.errors import OnlineStoreError
from featurestore.online import OnlineStore, compile_read_plan, open_online_store
from tests.online.conftest import (
    REDIS_CLI,
    STARTUP_TIMEOUT,
    RedisServer,
    free_port,
    require_redis,
    start_redis,
)
from tests.online.test_contract import batch, make_view

pytestmark = pytest.mark.redis
NOW = datetime.now(UTC)
TIMEOUT = 0.5
"""Connect and read timeout of the stores under test (seconds)."""
VIEW = make_view("faults")
PLAN = compile_read_plan([(VIEW, None)])
KEYS = {"driver_id": [1, 2, 3]}


def _ask(port: int, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
        s.sendall(command)
        return s.recv(4096)


@dataclass
class Target:
    """A private Redis (standalone or one-node cluster) that a test may stop, restart and pause."""

    kind: str
    folder: Path
    port: int
    server: RedisServer | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def args(self) -> list[str]:
        if self.kind == "redis":
            return []
        return ["--cluster-enabled", "yes", "--cluster-config-file", str(self.folder / "nodes.conf"),
                "--cluster-node-timeout", "5000"]  # fmt: skip

    def start(self) -> None:
        self.server = start_redis(self.folder, *self.args(), port=self.port)
        if self.kind == "redis_cluster":
            # One node holding every slot: a whole cluster that restarts with its nodes.conf.
            if b"cluster_state:ok" not in _ask(self.port, b"CLUSTER INFO\r\n"):
                assert REDIS_CLI is not None
                subprocess.run(
                    [REDIS_CLI, "-p", str(self.port), "CLUSTER", "ADDSLOTSRANGE", "0", "16383"],
                    check=True, capture_output=True, timeout=10,
                )  # fmt: skip
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while b"cluster_state:ok" not in _ask(self.port, b"CLUSTER INFO\r\n"):
                assert time.monotonic() < deadline, "the one-node cluster did not reach cluster_state:ok"
                time.sleep(0.02)

    def stop(self) -> None:
        if self.server is not None:
            self.server.process.kill()
            self.server.process.wait()
            self.server = None

    def pause(self, seconds: float) -> None:
        assert _ask(self.port, f"CLIENT PAUSE {int(seconds * 1000)} ALL\r\n".encode()).startswith(b"+OK")

    def open(self, tmp_path: Path) -> OnlineStore:
        config_type = RedisOnlineConfig if self.kind == "redis" else RedisClusterOnlineConfig
        return open_online_store(
            config_type(url=self.url, connect_timeout=TIMEOUT, read_timeout=TIMEOUT), tmp_path
        )


@pytest.fixture(params=["redis", "redis_cluster"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    require_redis()
    t = Target(request.param, tmp_path / "redis", free_port(with_bus=True))
    t.start()
    yield t
    t.stop()


def _write(store: OnlineStore) -> None:
    store.write(VIEW, batch(VIEW, KEYS, [NOW] * 3, rate=[0.1, 0.2, 0.3], trips=[1, 2, 3]))


def _read(store: OnlineStore) -> list[Any]:
    [result] = store.read(PLAN, KEYS)
    return result.values("rate")


def test_reads_recover_after_hundreds_of_failures(target: Target, tmp_path: Path) -> None:
    """An outage longer than the pool's 100 connections' worth of failures still ends in working reads."""
    store = target.open(tmp_path)
    _write(store)
    assert _read(store) == [0.1, 0.2, 0.3]
    target.stop()
    for _ in range(250):
        with pytest.raises(OnlineStoreError, match=f"127.0.0.1:{target.port}"):
            _read(store)
    target.start()  # same port, empty (no persistence)
    _write(store)
    assert _read(store) == [0.1, 0.2, 0.3]
    store.close()


def test_a_restart_between_two_reads_costs_no_error(target: Target, tmp_path: Path) -> None:
    """The connection kept from the first read is dead after the restart: the read goes out again on a
    new one instead of failing."""
    store = target.open(tmp_path)
    _write(store)
    assert _read(store) == [0.1, 0.2, 0.3]
    target.stop()
    target.start()
    assert _read(store) == [None, None, None]  # empty after the restart, but answered
    store.close()


@dataclass
class Load:
    """Reads from a few threads, back to back, each outcome recorded as (start, end, error or None)."""

    read: Callable[[], Any]
    threads: int = 4
    outcomes: list[tuple[float, float, str | None]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        for _ in range(self.threads):
            worker = threading.Thread(target=self._run, daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            error = None
            try:
                self.read()
            except OnlineStoreError as exc:
                error = f"{type(exc).__name__}: {exc}"
            self.outcomes.append((began, time.monotonic(), error))
            time.sleep(0.002)  # a steady load, not a spin: refused connections fail in microseconds

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=10)
        assert not any(w.is_alive() for w in self._workers), "a read hung past every timeout"

    def errors(self, since: float = 0.0, until: float = float("inf")) -> list[str]:
        """Errors of the reads that began in ``[since, until)``."""
        return [e for began, _, e in self.outcomes if e is not None and since <= began < until]

    def errors_before(self, moment: float) -> list[str]:
        """Errors of the reads that ended before ``moment``."""
        return [e for _, end, e in self.outcomes if e is not None and end < moment]

    def ok(self, since: float) -> int:
        return sum(1 for began, _, e in self.outcomes if e is None and began >= since)

    def longest(self) -> float:
        return max(end - began for began, end, _ in self.outcomes)


def test_restart_under_load(target: Target, tmp_path: Path) -> None:
    store = target.open(tmp_path)
    _write(store)
    with Load(lambda: _read(store)) as load:
        time.sleep(0.5)
        stopped = time.monotonic()
        target.stop()
        time.sleep(0.7)
        target.start()
        back = time.monotonic()
        _write(store)
        time.sleep(TIMEOUT + 1.0)
    assert not load.errors_before(stopped)
    assert load.errors(since=stopped, until=back), "no read noticed the outage"
    # Every read that began once Redis was back (plus one timeout) succeeded: no stuck process.
    assert not load.errors(since=back + TIMEOUT), load.errors(since=back + TIMEOUT)[:3]
    assert load.ok(since=back + TIMEOUT) > 20
    # A connection that was open before the restart is found dead on its first use and replaced
    # without failing the read (reads are idempotent), so the restart costs no errors once Redis is back.
    assert len(load.errors(since=back)) <= load.threads, load.errors(since=back)[:5]
    assert load.longest() < TIMEOUT * 2 + 0.5
    assert _read(store) == [0.1, 0.2, 0.3]
    store.close()


def test_pause_under_load(target: Target, tmp_path: Path) -> None:
    store = target.open(tmp_path)
    _write(store)
    pause = 1.5
    with Load(lambda: _read(store)) as load:
        time.sleep(0.3)
        paused = time.monotonic()
        target.pause(pause)
        time.sleep(pause + TIMEOUT + 1.0)
    resumed = paused + pause
    assert not load.errors_before(paused)
    errors = load.errors(since=paused)
    assert errors, "no read noticed the pause"
    assert all(e.startswith("OnlineStoreTimeoutError: ") and "read timeout" in e for e in errors), errors[:3]
    # Each thread fails at most once per timeout while Redis is paused: errors are bounded by time.
    assert len(errors) <= load.threads * (pause / TIMEOUT + 2), len(errors)
    assert not load.errors(since=resumed + TIMEOUT), load.errors(since=resumed + TIMEOUT)[:3]
    assert load.ok(since=resumed + TIMEOUT) > 20
    assert load.longest() < TIMEOUT * 2 + 0.5
    store.close()


# -- reads awaited on an event loop (the server's path) ----------------------------------------------------


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[Target]:
    require_redis()
    t = Target("redis", tmp_path / "redis", free_port())
    t.start()
    yield t
    t.stop()


def test_async_reads_recover_after_a_restart_and_hundreds_of_failures(
    standalone: Target, tmp_path: Path
) -> None:
    store: Any = standalone.open(tmp_path)
    assert store.capabilities.async_reads
    _write(store)

    async def scenario() -> None:
        [result] = await store.read_async(PLAN, KEYS)
        assert result.values("rate") == [0.1, 0.2, 0.3]
        standalone.stop()
        standalone.start()
        [result] = await store.read_async(PLAN, KEYS)  # the kept connection is dead: read again
        assert result.values("rate") == [None, None, None]
        standalone.stop()
        for _ in range(250):
            with pytest.raises(OnlineStoreError, match=f"127.0.0.1:{standalone.port}"):
                await store.read_async(PLAN, KEYS)
        standalone.start()
        _write(store)
        [result] = await store.read_async(PLAN, KEYS)
        assert result.values("rate") == [0.1, 0.2, 0.3]
        await store.aclose()

    asyncio.run(scenario())
    store.close()


def test_async_reads_given_up_at_a_deadline_leave_nothing_behind(standalone: Target, tmp_path: Path) -> None:
    """Reads cancelled while Redis is paused (a request's deadline) drop their connections and give their
    pool slots back: more of them than the pool holds, and reads work as soon as the pause ends."""
    store: Any = standalone.open(tmp_path)
    _write(store)

    async def scenario() -> None:
        await store.read_async(PLAN, KEYS)
        standalone.pause(1.5)
        began = time.monotonic()
        for _ in range(150):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.005):
                    await store.read_async(PLAN, KEYS)
        assert time.monotonic() - began < 1.4, "the cancelled reads did not end at their deadlines"
        await asyncio.sleep(1.5 - (time.monotonic() - began) + 0.1)
        [result] = await store.read_async(PLAN, KEYS)
        assert result.values("rate") == [0.1, 0.2, 0.3]
        await store.aclose()

    asyncio.run(scenario())
    store.close()
