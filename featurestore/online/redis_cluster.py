"""The Redis Cluster online store, through redis-py's ``RedisCluster`` client.

Same keys and values as ``redis.py``. The entity key is the hash tag, so all views of one entity share a
slot; the slot is computed client-side (CRC16 of the encoded key) and mapped to its primary with the
client's slot table.

* **Reads**: keys are grouped per node and each node gets one read-only Lua script call that ``GET``s
  its keys (the script has the ``allow-cross-slot-keys`` flag, Redis >= 7.0). The calls to all nodes are
  sent before any reply is read, so a read costs one round trip to the slowest node.
* **Writes**: likewise grouped per node, in chunks of ``WRITE_CHUNK`` keys, sent to all nodes before
  reading replies. The newer-wins script is the standalone one, reading its keys from ``ARGV``; every
  write (``write`` and ``write_batches``) goes through it with its exact per-key expiry. The standalone
  store's bulk path has no cluster form: ``MSETNX`` cannot span slots, and one chunk of a write holds
  about one key per slot.
* **Topology changes**: a node answering ``MOVED``/``ASK``/"non local key" (a slot moved, a failover)
  makes the store refresh the slot table and redo the call through redis-py's own per-slot routing
  (``EVAL`` with declared keys of one slot; ``MGET`` per slot), which follows redirections. Writes are
  newer-wins, so redoing a partly applied script is harmless.
* **Clean-up**: ``SCAN`` on every primary, ``UNLINK`` per slot, in batches.

The client is created (and the cluster contacted) on first use.
"""

from __future__ import annotations

import binascii
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import redis.exceptions as rex
from redis.cluster import ClusterNode, RedisCluster

from featurestore.errors import ConfigError
from featurestore.online import keys
from featurestore.online.base import OnlineView, StoreCapabilities, StoreDiagnostics, ViewResult
from featurestore.online.batch import encode_batch
from featurestore.online.readplan import ReadPlan
from featurestore.online.redis import RedisSettings, scan_namespace, server_diagnostics, translate_errors
from featurestore.online.redis_writes import (
    _WRITE_BODY,
    WRITE_CHUNK,
    WRITE_SCRIPT,
    checked_out,
    read_replies,
    send_commands,
)

# ARGV = n, ttl in microseconds (or ""), n keys, n values [, n expiry times in ms]; the keys may span
# slots of this node.
NODE_WRITE_SCRIPT = (
    "#!lua flags=allow-cross-slot-keys\n"
    "local n = tonumber(ARGV[1]) local ttl_arg = 2 local vbase = 2 + n local tbase = 2 + 2 * n"
    + _WRITE_BODY.replace("{key}", "ARGV[2 + i]")
)
NODE_READ_SCRIPT = """#!lua flags=no-writes,allow-cross-slot-keys
local out = {}
for i = 1, #ARGV do out[i] = redis.call('GET', ARGV[i]) end
return out
"""
_SLOTS = 16384
_ROUND = WRITE_CHUNK * 16
# Replies that mean "this node no longer owns that key": refresh the slot table and reroute.
_REROUTE = ("MOVED", "ASK", "non local key", "CROSSSLOT", "TRYAGAIN", "CLUSTERDOWN")


def key_slot(encoded_key: str) -> int:
    """The cluster slot of every key of one entity (its encoded key is the whole hash tag)."""
    return binascii.crc_hqx(encoded_key.encode(), 0) % _SLOTS


@dataclass(frozen=True)
class RedisClusterSink:
    """A Redis Cluster as a :class:`~featurestore.online.base.SinkSpec` (picklable settings): each
    executor opens its own cluster client and writes grouped by node."""

    settings: RedisSettings

    def __repr__(self) -> str:
        return f"RedisClusterSink({self.settings.target})"

    def open(self) -> RedisClusterOnlineStore:
        return RedisClusterOnlineStore(self.settings)


class RedisClusterOnlineStore:
    """See the module docstring."""

    capabilities = StoreCapabilities(
        name="redis_cluster", supports_ttl_expiry=True, cluster=True, embedded=False
    )

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        self._cluster: Any = None  # redis-py's cluster client is untyped

    @property
    def client(self) -> Any:
        """The redis-py cluster client (connects on first use)."""
        if self._cluster is None:
            with translate_errors(self.settings, "connecting to the cluster"):
                try:
                    self._cluster = RedisCluster.from_url(self.settings.url, **self.settings.client_options())
                except ValueError as exc:
                    raise ConfigError(
                        f"online.url is not a valid Redis url: {self.settings.scrub(str(exc))}"
                    ) from None
                except rex.RedisClusterException as exc:
                    text = str(exc)
                    if any(m in text for m in ("AuthenticationError", "invalid username-password", "NOAUTH")):
                        raise rex.AuthenticationError() from None
                    raise rex.ConnectionError(text) from None
        return self._cluster

    # -- writes ---------------------------------------------------------------------------------------

    def write(self, view: OnlineView, batch: pa.RecordBatch | pa.Table) -> int:
        rows = encode_batch(view, batch, now_us=time.time_ns() // 1000)
        if not len(rows):
            return 0
        prefix = keys.redis_key(view.namespace, "")[:-1]
        ttl = "" if view.ttl_us is None else view.ttl_us
        expire = rows.expire_at_ms
        written = 0
        with translate_errors(self.settings, f"writing view '{view.name}'"):
            for start in range(0, len(rows), _ROUND):  # one fan-out per round bounds the memory used
                calls: dict[str, list[list[Any]]] = {}
                for name, index in self._group_by_node(rows.keys, start, start + _ROUND).items():
                    for s in range(0, len(index), WRITE_CHUNK):
                        part = index[s : s + WRITE_CHUNK]
                        args: list[Any] = ["EVAL", NODE_WRITE_SCRIPT, 0, len(part), ttl]
                        args += [f"{prefix}{rows.keys[i]}}}" for i in part]
                        args += [rows.values[i] for i in part]
                        if expire is not None:
                            args += [expire[i] for i in part]
                        calls.setdefault(name, []).append(args)
                for name, replies in self._fan_out(calls).items():
                    for call, reply in zip(calls[name], replies, strict=True):
                        written += self._write_reply(call, reply)
        return written

    def write_batches(self, view: OnlineView, batches: Iterable[pa.RecordBatch | pa.Table]) -> Iterator[int]:
        for batch in batches:  # each write already runs on all nodes in parallel
            yield self.write(view, batch)

    def _write_reply(self, call: list[Any], reply: Any) -> int:
        if not isinstance(reply, Exception):
            return int(reply)
        if not _is_reroute(reply):
            raise reply
        # Redo this call slot by slot through redis-py's routing (it follows MOVED/ASK).
        self.client.nodes_manager.initialize()
        n, ttl = call[3], call[4]
        call_keys, values, expire = call[5 : 5 + n], call[5 + n : 5 + 2 * n], call[5 + 2 * n :]
        per_slot: dict[int, list[int]] = {}
        for i, k in enumerate(call_keys):
            per_slot.setdefault(key_slot(k[k.index("{") + 1 : -1]), []).append(i)
        written = 0
        for index in per_slot.values():
            args = [call_keys[i] for i in index] + [ttl] + [values[i] for i in index]
            if expire:
                args += [expire[i] for i in index]
            written += int(self.client.execute_command("EVAL", WRITE_SCRIPT, len(index), *args))
        return written

    # -- reads ----------------------------------------------------------------------------------------

    def read(
        self, plan: ReadPlan, entity_keys: Mapping[str, Sequence[Any]], *, now: datetime | None = None
    ) -> tuple[ViewResult, ...]:
        n, groups = plan.encode_keys(entity_keys)
        if not n:
            return plan.results([[] for _ in plan.views], now)
        full_keys = [[f"{r.redis_prefix}{k}}}" for k in groups[r.key_group]] for r in plan.views]
        flat = [k for per_view in full_keys for k in per_view]
        with translate_errors(self.settings, "reading features"):
            entity_slots = [self._group_slots(g) for g in groups]
            slots = [s for r in plan.views for s in entity_slots[r.key_group]]
            nodes = self._slot_nodes(slots)
            by_node: dict[str, list[int]] = {}
            for i, node in enumerate(nodes):
                by_node.setdefault(node, []).append(i)
            calls = {
                name: [["EVAL", NODE_READ_SCRIPT, 0, *(flat[i] for i in index)]]
                for name, index in by_node.items()
            }
            replies = self._fan_out(calls)
            values: list[bytes | None] = [None] * len(flat)
            for name, index in by_node.items():
                reply = replies[name][0]
                if isinstance(reply, Exception):
                    if not _is_reroute(reply):
                        raise reply
                    self.client.nodes_manager.initialize()
                    reply = self.client.mget_nonatomic([flat[i] for i in index])
                for i, v in zip(index, reply, strict=True):
                    values[i] = v
        return plan.results([values[i * n : (i + 1) * n] for i in range(len(plan.views))], now)

    # -- clean-up -------------------------------------------------------------------------------------

    def delete_namespace(self, namespace: str) -> int:
        deleted = 0
        marker = keys.marker_key(namespace).encode()
        with translate_errors(self.settings, f"deleting namespace {namespace}"):
            for node in self.client.get_primaries():
                conn = self._node_client(node)
                for found in scan_namespace(conn, namespace):
                    per_slot: dict[int, list[bytes]] = {}
                    for k in found:
                        per_slot.setdefault(self.client.keyslot(k), []).append(k)
                    pipe = conn.pipeline(transaction=False)
                    for slot_keys in per_slot.values():
                        pipe.unlink(*slot_keys)
                    deleted += sum(pipe.execute()) - (marker in found)
        return deleted

    def count_keys(self, namespace: str) -> int:
        marker = keys.marker_key(namespace).encode()
        count = 0
        with translate_errors(self.settings, f"counting the keys of {namespace}"):
            for node in self.client.get_primaries():
                for found in scan_namespace(self._node_client(node), namespace):
                    count += sum(k != marker for k in found)
        return count

    def write_marker(self, namespace: str, marker: str) -> None:
        with translate_errors(self.settings, f"writing the marker of {namespace}"):
            self.client.set(keys.marker_key(namespace), marker)

    def read_marker(self, namespace: str) -> str | None:
        with translate_errors(self.settings, f"reading the marker of {namespace}"):
            found = self.client.get(keys.marker_key(namespace))
        return None if found is None else bytes(found).decode()

    def diagnostics(self) -> StoreDiagnostics:
        with translate_errors(self.settings, "reading the servers' memory settings"):
            return server_diagnostics(self._node_client(n) for n in self.client.get_primaries())

    def sink_spec(self) -> RedisClusterSink:
        """These settings, for a Spark executor to write with (``base.SinkSpec``)."""
        return RedisClusterSink(self.settings)

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> RedisClusterOnlineStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- routing --------------------------------------------------------------------------------------

    @staticmethod
    def _group_slots(encoded: Sequence[str]) -> list[int]:
        return [key_slot(k) for k in encoded]

    def _slot_nodes(self, slots: Iterable[int]) -> list[str]:
        manager = self.client.nodes_manager
        cache: dict[int, str] = {}
        out = []
        for s in slots:
            name = cache.get(s)
            if name is None:
                name = cache[s] = manager.get_node_from_slot(s).name
            out.append(name)
        return out

    def _group_by_node(self, encoded: Sequence[str], start: int, end: int) -> dict[str, list[int]]:
        """Row indices in ``[start, end)`` grouped by the node owning their slot."""
        by_node: dict[str, list[int]] = {}
        for i, name in enumerate(self._slot_nodes(key_slot(k) for k in encoded[start:end]), start=start):
            by_node.setdefault(name, []).append(i)
        return by_node

    def _node_client(self, node: ClusterNode) -> Any:
        if node.redis_connection is None:
            self.client.nodes_manager.initialize()
            node = self.client.get_node(node_name=node.name) or node
        return node.redis_connection

    def _fan_out(self, calls: Mapping[str, list[list[Any]]]) -> dict[str, list[Any]]:
        """Send every node its commands, then read every reply: one round trip to all nodes at once.

        Error replies come back as exception objects (the caller decides); connection errors raise.
        """
        with ExitStack() as stack:
            sent = []
            for name, commands in calls.items():
                node = self.client.get_node(node_name=name)
                if node is None:
                    raise rex.ConnectionError(f"node {name} left the cluster")
                conn = stack.enter_context(checked_out(self._node_client(node).connection_pool))
                sent.append((name, conn, send_commands(conn, commands)))
            return {name: read_replies(conn, count) for name, conn, count in sent}


def _is_reroute(reply: Exception) -> bool:
    text = str(reply)
    return isinstance(reply, rex.MovedError | rex.AskError | rex.TryAgainError | rex.ClusterDownError) or any(
        marker in text for marker in _REROUTE
    )
