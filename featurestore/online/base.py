"""The online store interface: what a store is given, what it returns, and the contract it keeps.

A store holds the latest value of every (feature view version, entity). It is given Arrow and returns
Arrow; it knows nothing of plans, registries or definitions beyond feature dtypes. The contract, which
``tests/online/test_contract.py`` checks for every store:

* **Newer wins.** A write replaces the stored value of an entity only if its event timestamp is
  *greater than or equal to* the stored one. An older write is ignored, also when two writers race.
  Equal timestamps: the later write replaces the earlier one, so re-running a materialization is
  idempotent and a same-timestamp correction (a greater created timestamp, chosen by the offline query)
  takes effect.
* **ttl.** A value whose event timestamp is older than ``now - ttl`` reads back as nulls with status
  ``EXPIRED`` (a value exactly ``ttl`` old is still ``PRESENT``, as in point-in-time joins). Writes of
  values already expired are skipped. Stores with ``capabilities.supports_ttl_expiry`` (Redis) also
  delete the value at ``event_ts + ttl``; after that it reads as ``NOT_FOUND``. (Standalone Redis:
  values ``write_batches`` stored into absent keys get that expiry from the namespace's sweep, at the
  latest at its next ``write_batches`` after the earliest of them expired; ``online/redis_writes.py``.)
* **Namespaces.** Values live under (project, view, version); a new version sees nothing of an old one.
  :meth:`OnlineStore.delete_namespace` removes exactly one namespace (its values and its marker) in
  batches without blocking the store; nothing is ever deleted by a pattern wider than one namespace.
* **Markers.** A namespace's marker (:meth:`OnlineStore.write_marker`) records, in the store itself, how
  far that namespace was materialized. A store that was flushed, replaced or restored from an older
  backup shows it: the marker is missing or older than the state says.
* **One round trip per read**, whatever the number of entities and views (Redis Cluster: one per node,
  sent in parallel).

    >>> from datetime import datetime, timedelta
    >>> view = OnlineView(project="rides", name="driver_stats", version="v1", join_keys=("driver_id",),
    ...                   key_dtypes=("int64",), features=(("conv_rate", "float64"),), ttl=timedelta(days=1))
    >>> view.namespace, view.feature_names
    ('rides:driver_stats:v1', ('conv_rate',))
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from featurestore.dsl.dtypes import DTYPES
from featurestore.errors import DefinitionError
from featurestore.online import keys
from featurestore.online.codec import Decoded, to_arrow_all, to_python

if TYPE_CHECKING:
    from featurestore.online.readplan import ReadPlan

EVENT_TS = "__event_ts"
"""The event-timestamp column of a write batch (``timestamp[us, tz=UTC]``)."""


class Status(enum.IntEnum):
    """The status of one value in a read. The codes are the indices of the status dictionary array."""

    PRESENT = 0
    NOT_FOUND = 1
    EXPIRED = 2


STATUS_TYPE = pa.dictionary(pa.int8(), pa.string())
_STATUS_STRINGS = tuple(s.name for s in Status)
_STATUS_NAMES = pa.array(_STATUS_STRINGS, pa.string())


def status_array(codes: Sequence[int]) -> pa.DictionaryArray:
    """A ``dictionary<int8, string>`` array of statuses (``PRESENT`` / ``NOT_FOUND`` / ``EXPIRED``)."""
    first = codes[0] if codes else Status.PRESENT
    if all(c == first for c in codes):
        return _uniform_status(len(codes), first)
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8()), _STATUS_NAMES)


@lru_cache(maxsize=256)
def _uniform_status(n: int, code: int) -> pa.DictionaryArray:
    # Arrow arrays are immutable, so the common "all PRESENT" column can be shared between calls.
    return pa.DictionaryArray.from_arrays(pa.array([code] * n, pa.int8()), _STATUS_NAMES)


@dataclass(frozen=True)
class OnlineView:
    """What an online store needs to know about one version of one feature view.

    ``version`` is the view's data fingerprint: it names the namespace, so a changed definition reads and
    writes new keys. ``key_dtypes`` are the declared types of ``join_keys`` (``int64``, ``int32`` or
    ``string``); ``features`` are ``(name, dtype)`` in declared order, dtypes from ``dsl.dtypes.DTYPES``.
    """

    project: str
    name: str
    version: str
    join_keys: tuple[str, ...]
    key_dtypes: tuple[str, ...]
    features: tuple[tuple[str, str], ...]
    ttl: timedelta | None
    namespace: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"online view '{self.name}'"
        try:
            keys.check_namespace_parts(self.project, self.name, self.version)
        except ValueError as exc:
            raise DefinitionError(f"{where}: {exc}") from None
        if not self.join_keys or len(self.join_keys) != len(self.key_dtypes):
            raise DefinitionError(
                f"{where}: needs one key dtype per join key, got join_keys={self.join_keys} "
                f"key_dtypes={self.key_dtypes}"
            )
        bad_keys = [d for d in self.key_dtypes if d not in keys.KEY_DTYPES]
        if bad_keys:
            raise DefinitionError(
                f"{where}: join keys must be {', '.join(keys.KEY_DTYPES)}; got {', '.join(bad_keys)}"
            )
        if not self.features:
            raise DefinitionError(f"{where}: needs at least one feature")
        for name, dtype in self.features:
            if dtype not in DTYPES:
                raise DefinitionError(
                    f"{where}: feature '{name}' has unknown dtype {dtype!r}; known: {', '.join(DTYPES)}"
                )
        names = [n for n, _ in self.features]
        clash = sorted(set(names) & ({EVENT_TS} | set(self.join_keys)))
        if len(set(names)) != len(names) or clash:
            raise DefinitionError(f"{where}: feature names must be unique and differ from keys: {names}")
        if self.ttl is not None and self.ttl <= timedelta(0):
            raise DefinitionError(f"{where}: ttl must be positive or None, got {self.ttl}")
        object.__setattr__(self, "namespace", keys.namespace(self.project, self.name, self.version))

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.features)

    @property
    def dtypes(self) -> tuple[str, ...]:
        return tuple(d for _, d in self.features)

    @property
    def ttl_us(self) -> int | None:
        """The ttl in whole microseconds, or ``None``."""
        return None if self.ttl is None else self.ttl // timedelta(microseconds=1)


class ViewResult:
    """The values of one (view, feature subset) for E entities, in entity order.

    Arrow, built on first access and cached:

    * ``columns[i]`` / ``column(feature)``: feature ``features[i]`` (Arrow type per ``arrow_type``; null
      when the feature is null, the entity NOT_FOUND or the value EXPIRED);
    * ``status``: a ``dictionary<int8, string>`` array, indices are :class:`Status` codes;
    * ``event_ts``: ``timestamp[us, UTC]``, the stored event time (also for EXPIRED values), null when
      NOT_FOUND.

    The same as Python lists, without building Arrow (the fast path for a few entities):
    ``values(feature)``, ``statuses()``, ``status_codes``, ``event_times()``.
    """

    __slots__ = ("_arrow", "_decoded", "_names", "_status", "features", "view")

    def __init__(self, view: OnlineView, features: tuple[str, ...], decoded: Decoded) -> None:
        self.view = view
        self.features = features
        self._decoded = decoded
        self._arrow: tuple[tuple[pa.Array, ...], pa.Array] | None = None
        self._status: pa.DictionaryArray | None = None
        self._names: list[str] | None = None

    def __len__(self) -> int:
        return len(self._decoded.status)

    def __repr__(self) -> str:
        return f"<ViewResult {self.view.name} {len(self)} entities: {', '.join(self.features)}>"

    @property
    def columns(self) -> tuple[pa.Array, ...]:
        return self._arrow_parts()[0]

    def column(self, feature: str) -> pa.Array:
        return self.columns[self.features.index(feature)]

    @property
    def event_ts(self) -> pa.Array:
        return self._arrow_parts()[1]

    def _arrow_parts(self) -> tuple[tuple[pa.Array, ...], pa.Array]:
        if self._arrow is None:  # all columns at once: one conversion is cheaper than one per column
            columns, event_ts = to_arrow_all(self._decoded)
            self._arrow = (tuple(columns), event_ts)
        return self._arrow

    @property
    def status(self) -> pa.DictionaryArray:
        if self._status is None:
            self._status = status_array(self._decoded.status)
        return self._status

    def values(self, feature: str) -> list[Any]:
        """``column(feature).to_pylist()``, computed without Arrow."""
        return self.values_at(self.features.index(feature))

    def values_at(self, i: int) -> list[Any]:
        """:meth:`values` of ``features[i]`` (a new list on every call)."""
        return to_python(self._decoded.values[i], self._decoded.dtypes[i])

    @property
    def status_codes(self) -> list[int]:
        """:class:`Status` codes (ints) per entity."""
        return self._decoded.status

    def statuses(self) -> list[str]:
        """``status.to_pylist()``, computed without Arrow (once per result: a new list per call)."""
        if self._names is None:
            codes = self._decoded.status
            if any(codes):  # PRESENT is 0
                self._names = [_STATUS_STRINGS[c] for c in codes]
            else:
                self._names = [_STATUS_STRINGS[Status.PRESENT]] * len(codes)
        return list(self._names)

    def event_times(self) -> list[datetime | None]:
        """``event_ts.to_pylist()``, computed without Arrow."""
        return to_python(self._decoded.event_ts, "timestamp")

    @property
    def event_micros(self) -> Sequence[int | None]:
        """Event times as microseconds since the epoch (``None`` when NOT_FOUND), without conversion."""
        return self._decoded.event_ts


@dataclass(frozen=True)
class StoreDiagnostics:
    """What a store says about its own health, for warnings at materialize and verify."""

    eviction_policy: str | None = None
    """Redis's ``maxmemory-policy`` (``None``: not applicable or not readable)."""
    maxmemory: int | None = None
    """Redis's ``maxmemory`` in bytes (0: no limit, so nothing is evicted)."""
    evicted_keys: int | None = None
    """Keys the server has evicted since it started (``INFO stats``)."""

    @property
    def may_evict(self) -> bool:
        """True when the server may delete feature values to free memory.

        >>> gb = 1 << 30
        >>> StoreDiagnostics("allkeys-lru", gb).may_evict, StoreDiagnostics("noeviction", gb).may_evict
        (True, False)
        """
        return bool(self.maxmemory) and self.eviction_policy not in (None, "noeviction")


@dataclass(frozen=True)
class StoreCapabilities:
    """What a store can do, so callers ask ``store.capabilities.x`` instead of checking its class."""

    name: str
    """``sqlite``, ``redis`` or ``redis_cluster`` (the ``[online] type`` of the config)."""
    supports_ttl_expiry: bool
    """The store deletes values itself at ``event_ts + ttl`` (they then read as NOT_FOUND)."""
    cluster: bool
    """Keys are spread over nodes; reads and writes are grouped per node."""
    embedded: bool
    """The store is a local file inside the repo (no server, no network)."""
    async_reads: bool = False
    """The store also has :class:`AsyncReads` methods: reads awaited on an event loop."""


class OnlineStore(Protocol):
    """The interface of every online store. See the module docstring for the contract."""

    @property
    def capabilities(self) -> StoreCapabilities: ...

    def write(self, view: OnlineView, batch: pa.RecordBatch | pa.Table) -> int:
        """Write the latest values of ``view`` for the entities of ``batch``; return how many values were
        stored (rows older than the stored value or already expired are not counted).

        ``batch`` has the join keys, ``__event_ts`` (``timestamp[us, tz=UTC]``) and every feature of the
        view (Arrow type per ``arrow_type``; other numeric/timestamp widths are cast safely). Null join
        keys or event timestamps are an error: drop (and count) such rows before writing.
        """
        ...

    def write_batches(self, view: OnlineView, batches: Iterable[pa.RecordBatch | pa.Table]) -> Iterator[int]:
        """Write a stream of batches (as :meth:`write`), yielding the values written per batch, in order.

        Stores that can keep a batch in flight (Redis) send batch k+1 before confirming batch k, so
        producing the next batch (the offline query) overlaps with the store's work. An error surfaces
        at the batch that failed or the one after it; batches confirmed before it are stored.
        """
        ...

    def read(
        self, plan: ReadPlan, entity_keys: Mapping[str, Sequence[Any]], *, now: datetime | None = None
    ) -> tuple[ViewResult, ...]:
        """Read the plan's views for E entities in one round trip; one :class:`ViewResult` per plan entry.

        ``entity_keys`` maps every join key of the plan to E Python values (or an Arrow array). ``now``
        (default: the current time) is the time the ttl is measured against.
        Raises :class:`~featurestore.errors.EntityRowsError` for a missing join key or a value of the
        wrong type, before anything is sent to the store.
        """
        ...

    def delete_namespace(self, namespace: str) -> int:
        """Delete every value of exactly ``namespace`` (``<project>:<view>:<version>``) and its marker;
        return the number of values deleted. Runs in batches, never blocking the store."""
        ...

    def count_keys(self, namespace: str) -> int:
        """How many entity values ``namespace`` holds (expired values that are still stored included)."""
        ...

    def write_marker(self, namespace: str, marker: str) -> None:
        """Record ``marker`` (a short JSON text) for ``namespace`` in the store itself."""
        ...

    def read_marker(self, namespace: str) -> str | None:
        """The marker of ``namespace``, or ``None`` when the store has none (never written, flushed)."""
        ...

    def diagnostics(self) -> StoreDiagnostics:
        """Eviction policy and counters where the store has them (see :class:`StoreDiagnostics`)."""
        ...

    def sink_spec(self) -> SinkSpec | None:
        """What a worker on another machine opens to write to this store (:class:`SinkSpec`), or None
        for a store only this process can write (the embedded SQLite file)."""
        ...

    def close(self) -> None:
        """Release connections. The store must not be used afterwards."""
        ...


class SinkSpec(Protocol):
    """What a worker on another machine (a Spark executor) needs to open the same online store and write
    to it: picklable settings, given by ``store.sink_spec()`` (Redis: ``redis.RedisSink``, Redis Cluster:
    ``redis_cluster.RedisClusterSink``; SQLite has none, its file is on the driver). The worker writes
    through the opened store's own ``write_batches``, so keys, codec, newer-wins and expiry are exactly
    those of a write from the driver. It carries the password (read on the driver); its ``repr`` never
    shows it."""

    def open(self) -> OnlineStore:
        """The store, connecting on its first write; close it after use."""
        ...


class AsyncReads(Protocol):
    """What a store with ``capabilities.async_reads`` adds, for servers: a read awaited on an event loop
    (neither the loop nor a thread blocks while the store is slow; cancelling it gives the read up)."""

    async def read_async(
        self, plan: ReadPlan, entity_keys: Mapping[str, Sequence[Any]], *, now: datetime | None = None
    ) -> tuple[ViewResult, ...]:
        """:meth:`OnlineStore.read`, awaited."""
        ...

    async def aclose(self) -> None:
        """Release the connections of :meth:`read_async` (on the loop that used them)."""
        ...
