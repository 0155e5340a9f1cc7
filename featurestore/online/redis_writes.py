"""Writes to a standalone Redis: the newer-wins script, the bulk path of ``write_batches``, and the sweep.

Two ways in, one rule (newer wins: a value never replaces one with a greater event time):

* **The newer-wins script** (``WRITE_SCRIPT``, what ``write`` and pushes use): a Lua call per chunk of up to
  ``WRITE_CHUNK`` keys, ``SET ... PXAT event_ts + ttl GET`` per key, the old value put back when it was
  newer. Every key gets its exact expiry at once. Redis spends about 2.7 us per key on it.
* **The bulk path** (``write_batches``: materialization, driver or executors): each chunk is first sent as
  one ``MSETNX``, which stores the chunk only if *none* of its keys exists (Redis checks and writes
  atomically): where nothing is stored there is nothing newer to protect, so newer-wins holds whatever
  writes race with it. A refused chunk (some key exists: a rerun, an incremental run, a racing push) is
  sent again through the newer-wins script; after the first refusal the rest of the call goes straight
  to the script, and so does all of it when the namespace has a marker (a run completed there, so most
  keys exist). A batch holding one key twice never goes through ``MSETNX``. Redis spends about 0.7 us per
  key on an ``MSETNX``, as on a plain ``MSET``.

Expiry on the bulk path. Redis 7.0 has no multi-key command with per-key expiry, and a ``PEXPIREAT`` per
key costs more than the script. So keys written by ``MSETNX`` have no expiry of their own at first; in the
same ``MULTI``/``EXEC`` transaction (atomic with the ``MSETNX``) the chunk's earliest expiry is recorded as
member ``due`` of the namespace's sweep record, ``fs:<namespace>:sweep`` (a sorted set; ``ZADD LT`` keeps
the earliest). Reads enforce the ttl exactly whatever the key's expiry (EXPIRED status). The **sweep**
(:func:`sweep_expired`) gives those keys their exact expiry: once the record is due, it ``SCAN``s the
namespace's values and, for every key without an expiry, sets ``PEXPIREAT event_ts + ttl`` (in a Lua call
per page, so a value written meanwhile is never touched by a stale decision); values already expired are
deleted. A bulk write runs the sweep first when it is due, so memory of an expired value is reclaimed at
the latest by the first bulk write (materialization) of its namespace after the earliest bulk-written
value expired, or when the namespace is deleted; after a sweep every value of the namespace expires on its
own. ``RedisOnlineStore.sweep_expired(view)`` runs it on demand. A sweep holds the record's ``sweeping``
member, a lease of ``SWEEP_LEASE_MS``: a crashed sweep is taken over after it, and a write meanwhile records
its own ``due``.

This module imports only redis-py (and hiredis when installed); ``redis.py`` and ``redis_cluster.py``
import the shared helpers from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import redis.exceptions as rex

from featurestore.online import keys

if TYPE_CHECKING:
    from featurestore.online.base import OnlineView
    from featurestore.online.batch import EncodedBatch, EncodedColumns

hiredis_pack: Callable[[tuple[Any, ...]], bytes] | None
"""hiredis's ``pack_command`` (a command's wire form built in C), or None without hiredis."""
try:
    from hiredis import pack_command as hiredis_pack
except ImportError:  # pragma: no cover - redis[hiredis] is a dependency; plain redis-py still works
    hiredis_pack = None

WRITE_CHUNK = 1000
"""Keys per write command (script call or ``MSETNX``): large enough to amortise the call, small enough
not to stall Redis."""
SWEEP_PAGE = 1000
SWEEP_LEASE_MS = 600_000
"""How long a sweep holds the namespace's sweep record before another may take it over (10 minutes)."""

# Newer wins, in one command per key on the common path: SET ... GET stores the new value and returns
# the old one; only when the old one is strictly newer is it put back (with its own expiry, recomputed
# from its event time: the ttl is part of the namespace). The event time is the value's first 8 bytes.
_WRITE_BODY = """
local written = 0
local ttl_us = tonumber(ARGV[ttl_arg])
for i = 1, n do
  local key = {key}
  local new = ARGV[vbase + i]
  local old
  if ttl_us then
    old = redis.call('SET', key, new, 'PXAT', ARGV[tbase + i], 'GET')
  else
    old = redis.call('SET', key, new, 'GET')
  end
  if old and struct.unpack('<i8', old) > struct.unpack('<i8', new) then
    if ttl_us then
      local expire = math.ceil((struct.unpack('<i8', old) + ttl_us) / 1000)
      redis.call('SET', key, old, 'PXAT', string.format('%.0f', expire))
    else
      redis.call('SET', key, old)
    end
  else
    written = written + 1
  end
end
return written
"""
WRITE_SCRIPT = "local n = #KEYS local ttl_arg = 1 local vbase = 1 local tbase = 1 + n" + _WRITE_BODY.replace(
    "{key}", "KEYS[i]"
)
"""KEYS = n keys; ARGV = ttl in microseconds (or ""), n values, [n expiry times in ms]. Returns the
number of values stored."""

# KEYS[1] = the sweep record; ARGV = now (ms), the lease's end (ms). 1: this caller sweeps now.
SWEEP_BEGIN_SCRIPT = """
local now = tonumber(ARGV[1])
local held = redis.call('ZSCORE', KEYS[1], 'sweeping')
if held and tonumber(held) > now then return 0 end
local due = redis.call('ZSCORE', KEYS[1], 'due')
if not held and (not due or tonumber(due) > now) then return 0 end
redis.call('ZREM', KEYS[1], 'due')
redis.call('ZADD', KEYS[1], ARGV[2], 'sweeping')
return 1
"""
# KEYS[1] = the sweep record; ARGV[1] = the lease this sweep took.
SWEEP_END_SCRIPT = """
local held = redis.call('ZSCORE', KEYS[1], 'sweeping')
if held and tonumber(held) == tonumber(ARGV[1]) then redis.call('ZREM', KEYS[1], 'sweeping') end
return 0
"""
# KEYS = values of one namespace; ARGV = ttl (us), now (ms). Keys without an expiry get event_ts + ttl
# (rounded up to ms, as the script sets it); those already past it are deleted. Returns {given, deleted}.
SWEEP_PAGE_SCRIPT = """
local ttl_us = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local given, deleted = 0, 0
for i = 1, #KEYS do
  if redis.call('PTTL', KEYS[i]) == -1 then
    local value = redis.call('GET', KEYS[i])
    if value then
      local expire = math.ceil((struct.unpack('<i8', value) + ttl_us) / 1000)
      if expire < now then
        redis.call('DEL', KEYS[i])
        deleted = deleted + 1
      else
        redis.call('PEXPIREAT', KEYS[i], string.format('%.0f', expire))
        given = given + 1
      end
    end
  end
end
return {given, deleted}
"""


def sweep_key(namespace: str) -> str:
    """The sweep record of a namespace (beside its marker; matched by the namespace's SCAN pattern).

    >>> sweep_key("rides:driver_stats:a1b2-x9")
    'fs:rides:driver_stats:a1b2-x9:sweep'
    """
    return f"{keys.REDIS_PREFIX}:{namespace}:sweep"


def values_pattern(namespace: str) -> str:
    """The ``SCAN MATCH`` pattern of the values of a namespace (not its marker nor its sweep record).

    >>> values_pattern("rides:driver_stats:a1b2-x9")
    'fs:rides:driver_stats:a1b2-x9:{*'
    """
    return keys.redis_key(namespace, "")[:-1] + "*"


def bookkeeping_keys(namespace: str) -> frozenset[bytes]:
    """The keys of a namespace that hold no entity value: its marker and its sweep record."""
    return frozenset({keys.marker_key(namespace).encode(), sweep_key(namespace).encode()})


@dataclass(frozen=True)
class SweepResult:
    """What one sweep did: ``swept`` (False: nothing was due, or another sweep holds the record), values
    given their own expiry, values deleted as already expired."""

    swept: bool
    given_expiry: int = 0
    deleted: int = 0


# -- the wire -------------------------------------------------------------------------------------------


def pack_one(conn: Any, command: Sequence[Any]) -> Any:
    """The wire form of one command (args: str, bytes, int), packed by hiredis when installed."""
    if hiredis_pack is not None:
        return [hiredis_pack(tuple(command))]
    return conn.pack_command(*command)


def send_commands(conn: Any, commands: Iterable[Sequence[Any]]) -> int:
    """Send commands without reading replies (a pipeline that streams); return how many were sent."""
    count = 0
    for command in commands:
        conn.send_packed_command(pack_one(conn, command), check_health=False)
        count += 1
    return count


def read_replies(conn: Any, count: int) -> list[Any]:
    """Read ``count`` replies; error replies come back as exception objects (all replies are drained)."""
    out: list[Any] = []
    for _ in range(count):
        try:
            out.append(conn.read_response())
        except rex.ResponseError as exc:
            out.append(exc)
    return out


def sum_replies(replies: Sequence[Any]) -> int:
    """The total of integer replies; raise the first error reply."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return sum(int(r) for r in replies)


@contextmanager
def checked_out(pool: Any) -> Iterator[Any]:
    """A connection from ``pool``; dropped (not reused) if anything but an error reply interrupts it."""
    conn = pool.get_connection()
    try:
        yield conn
    except rex.ResponseError:
        raise
    except BaseException:
        conn.disconnect()  # replies may still be in flight: never reuse a half-read connection
        raise
    finally:
        pool.release(conn)


def _call(conn: Any, command: Sequence[Any]) -> Any:
    conn.send_packed_command(pack_one(conn, command), check_health=False)
    [reply] = read_replies(conn, 1)
    if isinstance(reply, Exception):
        raise reply
    return reply


# -- the newer-wins script ------------------------------------------------------------------------------


def key_prefix(view: OnlineView) -> str:
    """``fs:<namespace>:{``: a value's key is this, the encoded entity key and ``}``."""
    return keys.redis_key(view.namespace, "")[:-1]


def script_args(
    view: OnlineView, chunk_keys: Sequence[Any], values: Sequence[Any], expire_ms: Sequence[Any] | None
) -> list[Any]:
    """The ``EVAL`` of the newer-wins script for one chunk: full Redis keys, packed values and (for a view
    with a ttl) each value's expiry in ms, in the same order."""
    args: list[Any] = ["EVAL", WRITE_SCRIPT, len(chunk_keys), *chunk_keys]
    args.append("" if view.ttl_us is None else view.ttl_us)
    args += values
    if expire_ms is not None:
        args += expire_ms
    return args


def script_calls(view: OnlineView, rows: EncodedBatch) -> Iterator[list[Any]]:
    """The newer-wins script calls of a whole batch, one per ``WRITE_CHUNK`` rows."""
    prefix = key_prefix(view)
    expire = rows.expire_at_ms
    for start in range(0, len(rows), WRITE_CHUNK):
        end = start + WRITE_CHUNK
        chunk_keys = [f"{prefix}{k}}}" for k in rows.keys[start:end]]
        yield script_args(
            view, chunk_keys, rows.values[start:end], None if expire is None else expire[start:end]
        )


def write_scripted(conn: Any, view: OnlineView, batches: Iterable[EncodedBatch]) -> Iterator[int]:
    """Every batch through the newer-wins script, one batch kept in flight; the values stored per batch."""
    in_flight: int | None = None
    for rows in batches:
        sent = send_commands(conn, script_calls(view, rows))
        if in_flight is not None:
            yield sum_replies(read_replies(conn, in_flight))
        in_flight = sent
    if in_flight is not None:
        yield sum_replies(read_replies(conn, in_flight))


# -- the bulk path --------------------------------------------------------------------------------------


def _binary(value: bytes | str) -> pa.Scalar:
    return pa.scalar(value.encode() if isinstance(value, str) else value, pa.large_binary())


class _Wire:
    """One batch on the bulk path, its ``MSETNX`` arguments built with Arrow kernels: every row's
    ``$<len>\r\n<key>\r\n$<len>\r\n<value>\r\n`` (the wire form of two arguments) in one buffer, so a
    chunk's command is a slice of it behind a header, with no Python object per key."""

    def __init__(self, view: OnlineView, rows: EncodedColumns) -> None:
        import numpy as np
        import pyarrow.compute as pc

        self.view, self.rows = view, rows
        keys_ = pc.binary_join_element_wise(
            _binary(key_prefix(view)), rows.keys.cast(pa.large_binary()), _binary("}"), _binary("")
        )
        values = rows.values.cast(pa.large_binary())

        def length(column: pa.Array) -> pa.Array:
            return pc.binary_length(column).cast(pa.string()).cast(pa.large_binary())

        wire = pc.binary_join_element_wise(
            _binary("$"), length(keys_), _binary("\r\n"), keys_, _binary("\r\n$"), length(values),
            _binary("\r\n"), values, _binary("\r\n"), _binary(""),
        )  # fmt: skip
        self.keys = keys_
        self.offsets = np.frombuffer(wire.buffers()[1], np.int64)[wire.offset : wire.offset + len(wire) + 1]
        self.data = memoryview(wire.buffers()[2])
        self._wire = wire  # keeps the buffer alive
        self.unique = rows.distinct
        self.expire = None if rows.expire_at_ms is None else rows.expire_at_ms.to_numpy()

    def nx(self, start: int, end: int) -> list[Any]:
        """The packed ``MSETNX`` of rows ``[start, end)``, in a ``MULTI`` with the sweep record's ``ZADD``
        when the view has a ttl: (buffers to send, replies to read)."""
        head = b"*%d\r\n$6\r\nMSETNX\r\n" % (2 * (end - start) + 1)
        body = self.data[self.offsets[start] : self.offsets[end]]
        if self.expire is None:
            return [head, body]
        due = int(self.expire[start:end].min())
        record = sweep_key(self.view.namespace)
        opening = _packed(["MULTI"]) + _packed(["ZADD", record, "LT", due, "due"])
        return [opening + head, body, _packed(["EXEC"])]

    def script(self, start: int, end: int) -> list[Any]:
        """The ``EVAL`` of the newer-wins script for rows ``[start, end)``."""
        expire = self.rows.expire_at_ms
        return script_args(
            self.view,
            self.keys[start:end].to_pylist(),
            self.rows.values[start:end].to_pylist(),
            None if expire is None else expire[start:end].to_pylist(),
        )


def _packed(command: Sequence[Any]) -> bytes:
    """One small command in the wire form (RESP), as one bytes string."""
    if hiredis_pack is not None:
        return hiredis_pack(tuple(command))
    parts = [b"*%d\r\n" % len(command)]
    for arg in command:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


@dataclass(frozen=True)
class _Sent:
    """One chunk on the wire: rows ``[start, end)`` of a batch, as an MSETNX (``replies`` replies, the
    last one decides) or as a script call."""

    wire: _Wire
    start: int
    end: int
    nx: bool
    replies: int


class BulkWriter:
    """The bulk path over one connection (see the module docstring): ``MSETNX`` per chunk while no chunk
    was refused, the newer-wins script for refused chunks and everything after them."""

    def __init__(self, conn: Any, view: OnlineView, *, nx: bool = True) -> None:
        self.conn = conn
        self.view = view
        self.nx = nx

    def send(self, rows: EncodedColumns) -> list[_Sent]:
        sent: list[_Sent] = []
        if not len(rows):
            return sent
        wire = _Wire(self.view, rows)
        conn = self.conn
        for start in range(0, len(rows), WRITE_CHUNK):
            end = min(start + WRITE_CHUNK, len(rows))
            if self.nx and wire.unique:
                conn.send_packed_command(wire.nx(start, end), check_health=False)
                sent.append(_Sent(wire, start, end, True, 1 if wire.expire is None else 4))
            else:
                conn.send_packed_command(pack_one(conn, wire.script(start, end)), check_health=False)
                sent.append(_Sent(wire, start, end, False, 1))
        return sent

    def confirm(self, sent: list[_Sent]) -> tuple[int, list[_Sent]]:
        """Read the replies of ``sent``: the values stored, and the chunks ``MSETNX`` refused (from then on
        this writer sends scripts). Raises the first error reply, after draining them all."""
        written = 0
        refused: list[_Sent] = []
        error: Exception | None = None
        for chunk in sent:
            replies = read_replies(self.conn, chunk.replies)
            last = replies[-1]
            inner = last if isinstance(last, list) else [last]  # EXEC: [ZADD's reply, MSETNX's reply]
            failed = next((r for r in (*replies[:-1], *inner) if isinstance(r, Exception)), None)
            reply = inner[-1] if inner else None
            if failed is not None or reply is None:
                error = error or failed or rex.ResponseError("the MSETNX transaction was aborted")
            elif not chunk.nx:
                written += int(reply)
            elif int(reply):
                written += chunk.end - chunk.start
            else:
                refused.append(chunk)
        if error is not None:
            raise error
        if refused:
            self.nx = False
        return written, refused

    def retry(self, refused: list[_Sent]) -> int:
        """Send refused chunks through the newer-wins script and wait for them (nothing else in flight)."""
        calls = (c.wire.script(c.start, c.end) for c in refused)
        return sum_replies(read_replies(self.conn, send_commands(self.conn, calls)))


def write_bulk(conn: Any, view: OnlineView, batches: Iterable[EncodedColumns]) -> Iterator[int]:
    """Every batch through the bulk path, one batch kept in flight; the values stored per batch.

    A namespace with a marker (a run completed there) holds most of the keys already: it is written
    through the script from the start, without refused ``MSETNX``s nor their sweep records. A refusal
    is seen when a batch is confirmed, after the next one was sent: both are then confirmed and their
    refused chunks written through the script before anything else is sent."""
    writer = BulkWriter(conn, view, nx=not int(_call(conn, ["EXISTS", keys.marker_key(view.namespace)])))
    in_flight: list[_Sent] | None = None
    for rows in batches:
        sent = writer.send(rows)
        if in_flight is None:
            in_flight = sent
            continue
        written, refused = writer.confirm(in_flight)
        if not refused:
            yield written
            in_flight = sent
            continue
        after, refused_after = writer.confirm(sent)
        yield written + writer.retry(refused)
        yield after + writer.retry(refused_after)
        in_flight = None
    if in_flight is not None:
        written, refused = writer.confirm(in_flight)
        yield written + writer.retry(refused)


# -- the sweep ------------------------------------------------------------------------------------------


def sweep_expired(conn: Any, view: OnlineView, now_ms: int) -> SweepResult:
    """Give the bulk-written values of ``view``'s namespace their own expiry, deleting those already
    expired, if the namespace's sweep record is due at ``now_ms`` (see the module docstring)."""
    if view.ttl_us is None:
        return SweepResult(False)
    record = sweep_key(view.namespace)
    lease = now_ms + SWEEP_LEASE_MS
    if not int(_call(conn, ["EVAL", SWEEP_BEGIN_SCRIPT, 1, record, now_ms, lease])):
        return SweepResult(False)
    given = deleted = 0
    cursor: Any = 0
    pattern = values_pattern(view.namespace)
    while True:
        cursor, found = _call(conn, ["SCAN", cursor, "MATCH", pattern, "COUNT", SWEEP_PAGE])
        if found:
            done = _call(conn, ["EVAL", SWEEP_PAGE_SCRIPT, len(found), *found, view.ttl_us, now_ms])
            given, deleted = given + int(done[0]), deleted + int(done[1])
        if int(cursor) == 0:
            break
    _call(conn, ["EVAL", SWEEP_END_SCRIPT, 1, record, lease])
    return SweepResult(True, given, deleted)
