"""The Redis online store (standalone server), through redis-py with the hiredis parser.

Layout: one packed value (``codec.py``) per key ``fs:<project>:<view>:<version>:{<entity key>}``
(``keys.py``). A read of E entities over V views is one ``MGET`` of E x V keys. Writes are in
``redis_writes.py``: ``write`` (pushes) runs a newer-wins Lua script per chunk of keys, each key with its
exact ``PXAT event_ts + ttl``; ``write_batches`` (materialization) sends each chunk as one ``MSETNX``
where none of its keys exists, the script elsewhere, and leaves the per-key expiry of what ``MSETNX``
wrote to the namespace's sweep (reads enforce the ttl exactly either way). Both stream their commands
down one connection and read the replies a batch later. A namespace is deleted with ``SCAN
MATCH fs:<namespace>:*`` + ``UNLINK`` in batches (never ``KEYS``, never a blocking ``DEL``, never a pattern
wider than one namespace). Needs Redis >= 6.2
(``SET ... PXAT ... GET``); Redis Cluster needs >= 7.0 (script flags).

Configuration: ``redis://[user:password@]host:port/db`` or ``rediss://`` for TLS (TLS options such as
``ssl_ca_certs`` go in the query string); a password from the environment variable named by
``password_env`` wins over one in the URL. Connect and read timeouts bound every call, and failures
become :class:`~featurestore.errors.OnlineStoreError` naming ``host:port``, never the password. Nothing
is retried, but for one case: a read on a kept connection that the server closed since its last use
(after a restart) is sent once more on a new connection. Connections are opened lazily, on the first read
or write; a failed one is closed and its pool slot given back, so reads recover on their own once Redis
answers again.

This module, ``redis_async.py`` (reads awaited on an event loop, for the server) and ``redis_cluster.py``
are the only ones that import ``redis``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import pyarrow as pa
import redis
import redis.exceptions as rex
from redis.backoff import NoBackoff
from redis.retry import Retry

from featurestore.errors import ConfigError, OnlineStoreError, OnlineStoreTimeoutError
from featurestore.online import keys
from featurestore.online.base import OnlineView, StoreCapabilities, StoreDiagnostics, ViewResult
from featurestore.online.batch import EncodedBatch, encode_batch, encode_columns
from featurestore.online.readplan import ReadPlan
from featurestore.online.redis_writes import (
    SweepResult,
    bookkeeping_keys,
    checked_out,
    hiredis_pack,
    sweep_expired,
    write_bulk,
    write_scripted,
)

if TYPE_CHECKING:
    from featurestore.online.redis_async import AsyncReader


SCAN_COUNT = 1000


@dataclass(frozen=True)
class RedisSettings:
    """Connection settings resolved from the config (the password already read from the environment)."""

    url: str
    """The URL without a password (safe to log); the password is passed separately."""
    password: str | None
    target: str
    """``host:port`` (or the socket path), for messages."""
    connect_timeout: float
    read_timeout: float
    password_source: str
    """Where the password came from, for messages: "the url", "$VAR" or "none"."""

    @classmethod
    def from_config(
        cls, url: str, password_env: str | None, connect_timeout: float, read_timeout: float
    ) -> RedisSettings:
        parts = urlsplit(url)
        password = unquote(parts.password) if parts.password else None
        source = "the url" if password else "none"
        if password_env:
            env = os.environ.get(password_env)
            if env is None:
                raise ConfigError(
                    f"online.password_env names ${password_env}, which is not set; export it or remove "
                    "password_env"
                )
            password, source = env, f"${password_env}"
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        if parts.username:
            netloc = f"{parts.username}@{netloc}"
        clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
        if parts.scheme == "unix":
            target = parts.path
        else:
            target = f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
        return cls(clean, password, target, connect_timeout, read_timeout, source)

    def client_options(self) -> dict[str, Any]:
        return {
            "password": self.password,
            "socket_connect_timeout": self.connect_timeout,
            "socket_timeout": self.read_timeout,
            # No silent retries: a call fails within its timeout and the caller decides
            # (writes are idempotent, so rerunning one is safe).
            "retry": Retry(NoBackoff(), 0),
            "health_check_interval": 0,
        }

    def scrub(self, text: str) -> str:
        return text.replace(self.password, "***") if self.password else text


@contextmanager
def translate_errors(settings: RedisSettings, doing: str) -> Iterator[None]:
    """Turn redis-py exceptions into :class:`OnlineStoreError` naming ``host:port`` and never the password."""
    try:
        yield
    except (rex.RedisError, OSError) as exc:
        raise translated(settings, doing, exc) from None


def translated(settings: RedisSettings, doing: str, exc: rex.RedisError | OSError) -> OnlineStoreError:
    """The :class:`OnlineStoreError` a redis-py (or socket) exception raised while ``doing`` becomes
    (the read path calls it from a plain ``except``: cheaper than a context manager per read)."""
    if isinstance(exc, rex.AuthenticationError):
        if settings.password is None or "NOAUTH" in str(exc):
            return OnlineStoreError(
                f"Redis at {settings.target} requires a password ({doing}); put it in the url "
                "(redis://:PASSWORD@host:port/0) or in the variable named by online.password_env"
            )
        return OnlineStoreError(
            f"Redis at {settings.target} rejected the credentials while {doing} (password from "
            f"{settings.password_source}); set the right password in the url or in the variable named by "
            "online.password_env"
        )
    if isinstance(exc, rex.NoPermissionError):
        return OnlineStoreError(
            f"Redis at {settings.target} denied a command while {doing}: {settings.scrub(str(exc))}; "
            "the user needs read/write access to fs:* keys and EVAL"
        )
    if isinstance(exc, rex.TimeoutError | TimeoutError):
        return OnlineStoreTimeoutError(
            f"Redis at {settings.target} did not answer in time while {doing}: {settings.scrub(str(exc))}. "
            f"Check that the server is running and not overloaded (connect timeout "
            f"{settings.connect_timeout}s, read timeout {settings.read_timeout}s)"
        )
    if isinstance(exc, rex.ConnectionError | rex.ClusterDownError | OSError):
        return OnlineStoreError(
            f"cannot reach Redis at {settings.target} while {doing}: {settings.scrub(str(exc))}. Check that "
            f"the server is running and the url is right (connect timeout {settings.connect_timeout}s, "
            f"read timeout {settings.read_timeout}s)"
        )
    if isinstance(exc, rex.RedisClusterException):
        return OnlineStoreError(
            f"the Redis Cluster at {settings.target} is not usable while {doing}: "
            f"{settings.scrub(str(exc))}. Check that its nodes are running and cluster_state is ok"
        )
    return OnlineStoreError(f"Redis at {settings.target} failed while {doing}: {settings.scrub(str(exc))}")


@dataclass(frozen=True)
class RedisSink:
    """A standalone Redis as a :class:`~featurestore.online.base.SinkSpec` (picklable settings).

    >>> import pickle
    >>> sink = RedisSink(RedisSettings.from_config("redis://:pw@h:6379/0", None, 1.0, 2.0))
    >>> sink, pickle.loads(pickle.dumps(sink)) == sink
    (RedisSink(h:6379), True)
    """

    settings: RedisSettings

    def __repr__(self) -> str:
        return f"RedisSink({self.settings.target})"

    def open(self) -> RedisOnlineStore:
        return RedisOnlineStore(self.settings)


class RedisOnlineStore:
    """See the module docstring."""

    capabilities = StoreCapabilities(
        name="redis", supports_ttl_expiry=True, cluster=False, embedded=False, async_reads=True
    )

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        try:
            self._client: Any = redis.Redis.from_url(  # redis-py's commands are untyped
                settings.url, **settings.client_options()
            )
        except ValueError as exc:
            raise ConfigError(f"online.url is not a valid Redis url: {settings.scrub(str(exc))}") from None
        # Reads take a connection from a free list of their own (a list pop and append, atomic without a
        # lock) rather than from the pool: a pool checkout costs about as much as the MGET. Every connection
        # in the list was checked out of the pool, so one that fails is disconnected and released, and its
        # slot is given back: a process outlives any number of failed reads (the pool allows 100).
        self._idle: list[Any] = []
        self._idle_pid = os.getpid()
        self._async: AsyncReader | None = None

    def _take_connection(self) -> tuple[Any, bool]:
        """A connection for one read, and whether it was used before (it may have gone stale since)."""
        if self._idle_pid != os.getpid():  # after a fork, never share a socket with the parent
            self._idle, self._idle_pid = [], os.getpid()
        try:
            return self._idle.pop(), True
        except IndexError:
            # Connects within the connect timeout; on failure the pool takes its slot back itself.
            return self._client.connection_pool.get_connection(), False

    def _discard_connection(self, conn: Any) -> None:
        conn.disconnect()  # replies may be in flight: never reuse a half-read connection
        self._client.connection_pool.release(conn)

    def _mget(self, all_keys: list[str]) -> list[bytes | None]:
        conn, reused = self._take_connection()
        try:
            command = _mget_command(conn, all_keys)
            conn.send_packed_command(command, check_health=False)
            values: list[bytes | None] = conn.read_response()
        except rex.ConnectionError:
            self._discard_connection(conn)
            if not reused:
                raise
            # A connection that waited in the list may have been closed by the server since its last use
            # (a restart, an idle timeout): that shows at once, on the first send or read. A read is
            # idempotent, so it is sent again, once, on a new connection with its own timeouts. Timeouts
            # are never retried: the call stays bounded by one connect and one read timeout.
            conn = self._client.connection_pool.get_connection()
            try:
                conn.send_packed_command(command, check_health=False)
                values = conn.read_response()
            except BaseException:
                self._discard_connection(conn)
                raise
        except BaseException:
            self._discard_connection(conn)
            raise
        self._idle.append(conn)
        return values

    def write(self, view: OnlineView, batch: pa.RecordBatch | pa.Table) -> int:
        """Newer-wins script writes, each key with its exact expiry (pushes write here)."""
        pool = self._client.connection_pool
        with translate_errors(self.settings, f"writing view '{view.name}'"), checked_out(pool) as conn:
            return sum(write_scripted(conn, view, [_encoded(view, batch)]))

    def write_batches(self, view: OnlineView, batches: Iterable[pa.RecordBatch | pa.Table]) -> Iterator[int]:
        """The bulk path (``redis_writes.py``): ``MSETNX`` per chunk where no key exists, the newer-wins
        script elsewhere; a due sweep of the namespace runs first."""
        pool = self._client.connection_pool
        with translate_errors(self.settings, f"writing view '{view.name}'"), checked_out(pool) as conn:
            sweep_expired(conn, view, time.time_ns() // 1_000_000)
            encoded = (encode_columns(view, b, now_us=time.time_ns() // 1000) for b in batches)
            yield from write_bulk(conn, view, encoded)

    def sweep_expired(self, view: OnlineView, *, now: datetime | None = None) -> SweepResult:
        """Give the values bulk-written into ``view``'s namespace their own expiry (deleting those already
        expired) if its sweep record is due at ``now`` (default: the current time); ``redis_writes.py``."""
        now_ms = time.time_ns() // 1_000_000 if now is None else int(now.timestamp() * 1000)
        pool = self._client.connection_pool
        with translate_errors(self.settings, f"sweeping {view.namespace}"), checked_out(pool) as conn:
            return sweep_expired(conn, view, now_ms)

    def read(
        self, plan: ReadPlan, entity_keys: Mapping[str, Sequence[Any]], *, now: datetime | None = None
    ) -> tuple[ViewResult, ...]:
        n, all_keys = plan.redis_keys(entity_keys)
        if not n:
            return plan.results([[] for _ in plan.views], now)
        try:
            values = self._mget(all_keys)
        except (rex.RedisError, OSError) as exc:
            raise translated(self.settings, "reading features", exc) from None
        return plan.results([values[i * n : (i + 1) * n] for i in range(len(plan.views))], now)

    async def read_async(
        self, plan: ReadPlan, entity_keys: Mapping[str, Sequence[Any]], *, now: datetime | None = None
    ) -> tuple[ViewResult, ...]:
        """:meth:`read` awaited on an event loop (``redis_async.py``); cancelling it gives the read up."""
        n, all_keys = plan.redis_keys(entity_keys)
        if not n:
            return plan.results([[] for _ in plan.views], now)
        if self._async is None:
            from featurestore.online.redis_async import AsyncReader

            self._async = AsyncReader(self.settings)
        try:
            values = await self._async.mget(all_keys)
        except (rex.RedisError, OSError) as exc:
            raise translated(self.settings, "reading features", exc) from None
        return plan.results([values[i * n : (i + 1) * n] for i in range(len(plan.views))], now)

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()

    def delete_namespace(self, namespace: str) -> int:
        deleted = 0
        with translate_errors(self.settings, f"deleting namespace {namespace}"):
            skip = bookkeeping_keys(namespace)
            for found in scan_namespace(self._client, namespace):
                deleted += self._client.unlink(*found)
                deleted -= sum(k in skip for k in found)
        return deleted

    def count_keys(self, namespace: str) -> int:
        skip = bookkeeping_keys(namespace)
        with translate_errors(self.settings, f"counting the keys of {namespace}"):
            return sum(sum(k not in skip for k in found) for found in scan_namespace(self._client, namespace))

    def write_marker(self, namespace: str, marker: str) -> None:
        with translate_errors(self.settings, f"writing the marker of {namespace}"):
            self._client.set(keys.marker_key(namespace), marker)

    def read_marker(self, namespace: str) -> str | None:
        with translate_errors(self.settings, f"reading the marker of {namespace}"):
            found = self._client.get(keys.marker_key(namespace))
        return None if found is None else bytes(found).decode()

    def diagnostics(self) -> StoreDiagnostics:
        with translate_errors(self.settings, "reading the server's memory settings"):
            return server_diagnostics([self._client])

    def sink_spec(self) -> RedisSink:
        """These settings, for a Spark executor to write with (``base.SinkSpec``)."""
        return RedisSink(self.settings)

    def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            self._discard_connection(conn)
        self._client.close()

    def __enter__(self) -> RedisOnlineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _encoded(view: OnlineView, batch: pa.RecordBatch | pa.Table) -> EncodedBatch:
    return encode_batch(view, batch, now_us=time.time_ns() // 1000)


def _mget_command(conn: Any, all_keys: list[str]) -> Any:
    """``MGET`` of ``all_keys`` in its wire form."""
    if hiredis_pack is not None:
        return [hiredis_pack(("MGET", *all_keys))]
    return conn.pack_command("MGET", *all_keys)


def pack(conn: Any, command: Sequence[Any]) -> Any:
    """The wire form of one command (args: str, bytes, int). hiredis packs directly, about twice as fast
    as redis-py's wrapper, which re-checks every argument."""
    if hiredis_pack is not None:
        return [hiredis_pack(tuple(command))]
    return conn.pack_command(*command)


def scan_namespace(client: Any, namespace: str) -> Iterator[list[bytes]]:
    """Pages of the keys of exactly ``namespace`` (values and marker), from ``SCAN`` on one server."""
    pattern = keys.namespace_pattern(namespace)
    cursor = 0
    while True:
        cursor, found = client.scan(cursor, match=pattern, count=SCAN_COUNT)
        if found:
            yield found
        if not cursor:
            return


def server_diagnostics(clients: Iterable[Any]) -> StoreDiagnostics:
    """Eviction settings and counters of the servers behind ``clients`` (summed over nodes).

    Managed services may refuse ``CONFIG GET``: the policy then reads as unknown, never as safe.
    """
    policy: str | None = None
    maxmemory: int | None = None
    evicted = 0
    for client in clients:
        try:
            config = client.config_get("maxmemory*")
            policy = _text(config.get("maxmemory-policy", config.get(b"maxmemory-policy"))) or policy
            limit = config.get("maxmemory", config.get(b"maxmemory"))
            if limit is not None:
                maxmemory = max(maxmemory or 0, int(limit))
        except rex.ResponseError:
            pass
        evicted += int(client.info("stats").get("evicted_keys", 0))
    return StoreDiagnostics(eviction_policy=policy, maxmemory=maxmemory, evicted_keys=evicted)


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
